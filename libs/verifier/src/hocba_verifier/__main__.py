"""python -m hocba_verifier: the same as hocba-verify."""

from hocba_verifier.cli import main

raise SystemExit(main())
