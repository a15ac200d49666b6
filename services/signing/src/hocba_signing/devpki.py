"""`python -m hocba_signing.devpki DIR [--signer STAFF_ID "FULL NAME"] ...`: the development PKI.

Creates a national-root-like CA, a public-duty CA for schools and a licensed public CA for people
in DIR (kept if they exist), and issues personal certificates for the signers given. For
development and tests only: nothing in Hocba trusts it unless its root is configured.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hocba_devstack.devpki import DevPKI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hocba_signing.devpki", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--signer", nargs=2, action="append", default=[], metavar=("STAFF_ID", "FULL_NAME"))
    args = parser.parse_args(argv)
    pki = DevPKI(args.directory)
    pki.create()
    for staff_id, name in args.signer:
        pki.issue(staff_id, name)
        print(f"issued {pki.path('signers', staff_id + '.pem')}")
    print(f"development PKI in {pki.dir}; trust root: {pki.root_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
