#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/web), driven by Playwright for Python with this
# executable: no browser download. Installs the `chromium` package with apt-get when no Chromium
# is on PATH (as root, or through sudo). Prints the executable's path.
set -euo pipefail
find_chromium() {
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}
if find_chromium; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=(); elif command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); else
  echo "browser.sh: no Chromium, and installing Debian's needs root (apt-get install chromium)" >&2
  exit 1
fi
echo "browser.sh: installing Debian's chromium package" >&2
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
find_chromium
