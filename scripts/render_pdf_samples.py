"""Render the official PDF of a sample year of each school level and write one page as a PNG into
docs/img/ (pdf-primary.png, pdf-secondary.png), for the README: by default the year's first page
(page 1 is the profile page, alike for both levels). The records are the
fictional ones publishing's PDF tests use (services/publishing/tests/pdf_fixtures.py).

    .venv/bin/python scripts/render_pdf_samples.py            # page 2: the year's first page
    .venv/bin/python scripts/render_pdf_samples.py --page 1   # the profile page
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services/publishing/tests"))

from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer  # noqa: E402
from pdf_fixtures import primary_document, secondary_document, signatures_for  # noqa: E402

SAMPLES = {
    "primary": ("HB-2025-7QK2-M4TX-9PWD", primary_document(grade=5)),
    "secondary": ("HB-2025-3HNV-R8CE-2FXA", secondary_document(grade=7)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=2, help="which page to write (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    renderer = WeasyPrintRenderer("https://tracuu.hocba.example")
    with tempfile.TemporaryDirectory() as tmp:
        for level, (document_id, document) in SAMPLES.items():
            pdf = Path(tmp) / f"{level}.pdf"
            pdf.write_bytes(
                renderer.render(document, document_id, "5f" * 32, signatures_for(document))
            )
            target = args.out / f"pdf-{level}"
            page = str(args.page)
            subprocess.run(
                [
                    "pdftoppm",
                    "-png",
                    "-r",
                    "60",
                    "-f",
                    page,
                    "-l",
                    page,
                    "-singlefile",
                    pdf,
                    target,
                ],
                check=True,
            )
            print(target.with_suffix(".png").relative_to(ROOT))


if __name__ == "__main__":
    main()
