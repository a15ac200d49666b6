"""The verifier installs on its own, as a citizen or another school installs it: `uv tool install
./libs/verifier` from the workspace root (hocba-trust, which is not on PyPI, comes from the
workspace), into a tool directory of its own; the installed command verifies a record, and holds
nothing of the workspace but hocba_trust and hocba_verifier."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from verifier_fixtures import DOCUMENT_ID, Log, filler, record, write  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _uv() -> str:
    """The uv scripts/bootstrap.sh uses: on PATH, or the one it installed into .tools/."""
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    assert Path(found).exists(), "uv is missing: run make install"
    return found


def test_uv_tool_install_gives_a_working_hocba_verify(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env |= {"UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
    # The versions the workspace locked, so that the test installs what was tested, not whatever
    # PyPI offers today. Not --offline: a tool install resolves on its own, and `make install`'s
    # cache need not hold every wheel it picks (PyPI is reachable wherever `make install` works).
    constraints = tmp_path / "constraints.txt"
    exported = subprocess.run(
        [_uv(), "export", "--frozen", "--no-hashes", "--no-emit-workspace", "--no-dev"]
        + ["--package", "hocba-verifier", "-o", str(constraints)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    installed = subprocess.run(
        [_uv(), "tool", "install", "--constraints", str(constraints), "./libs/verifier"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr
    [site] = (tmp_path / "tools" / "hocba-verifier").glob("lib/python*/site-packages")
    assert sorted(p.name for p in site.glob("hocba*") if p.is_dir() and "." not in p.name) == [
        "hocba_trust",
        "hocba_verifier",
    ]
    pki = DevPKI(tmp_path / "pki")
    pki.create()
    rec = record(pki)
    log = Log()
    filler(log, 2)
    log.publish(rec)
    rec["log"] = log.bundle(DOCUMENT_ID)
    command = [str(tmp_path / "bin" / "hocba-verify"), "--trust-root", str(pki.root_file)]
    command += ["--log-key", log.vkey]
    ok = subprocess.run(
        [*command, write(tmp_path / "r.json", rec)], capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VALID AND CURRENT" in ok.stdout
    rec["document"]["school_year"] = "2023-2024"
    changed = subprocess.run(
        [*command, write(tmp_path / "t.json", rec)], capture_output=True, text=True, timeout=60
    )
    assert changed.returncode == 1 and "Content changed" in changed.stdout
