#!/usr/bin/env bash
# Installs what Hocba needs on a fresh Debian machine with python3 and make, and nothing that is
# already there: uv (from PyPI, into .tools/ when not on PATH), the Debian packages WeasyPrint
# and the PDF checks need, Debian's chromium for the lookup portal's browser tests (Playwright
# drives it; `playwright install` is never run), and the workspace's locked Python dependencies
# (.venv/).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils softhsm2 openssl libnss3-tools chromium)
UV_VERSION=0.13.9

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if command -v uv >/dev/null 2>&1; then
  UV=$(command -v uv)
elif [ -x .tools/bin/uv ]; then
  UV=.tools/bin/uv
else
  echo "installing uv ${UV_VERSION} from PyPI into .tools/"
  python3 -m venv .tools
  .tools/bin/python -m pip install -q "uv==${UV_VERSION}"
  UV=.tools/bin/uv
fi

"$UV" sync --all-packages --frozen --quiet
