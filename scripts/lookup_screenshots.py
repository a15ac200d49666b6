"""Redraw the README's screenshots of the lookup portal, docs/img/lookup-*.png, with the browser
tests' own harness: it runs those tests (services/lookup/tests/browser/, the real lookup stack over
HTTP in Debian's chromium) with HOCBA_LOOKUP_SCREENSHOTS set, so that each page a test names for
the README is also written there as it is checked. The records shown are the tests' fictional ones.

    .venv/bin/python scripts/lookup_screenshots.py            # into docs/img/
    .venv/bin/python scripts/lookup_screenshots.py --out DIR
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = "services/lookup/tests/browser"
README_DIR_ENV = "HOCBA_LOOKUP_SCREENSHOTS"  # browser_portal.README_DIR_ENV


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in out.glob("lookup-*.png")}
    env = {**os.environ, README_DIR_ENV: str(out)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TESTS], cwd=ROOT, env=env
    )
    if done.returncode:
        sys.exit(
            f"the browser tests failed (exit {done.returncode}): no screenshot is to be trusted"
        )
    for path in sorted(out.glob("lookup-*.png")):
        if before.get(path) != path.stat().st_mtime:
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
