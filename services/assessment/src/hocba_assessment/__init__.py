"""Hocba assessment service: subject marks, the evaluation rules, closing a class's year."""
