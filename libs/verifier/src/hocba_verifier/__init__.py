"""hocba-verify: the offline verifier of a học bạ số."""
