#!/usr/bin/env bash
# Debian packages Voice Lab drives for real, installed only when missing:
#   npm        fetch_models takes the stock Kokoro voices from the npm registry (kokoro-js)
#   espeak-ng  a deterministic Spanish speaker for test audio
#   chromium   the browser tests
#   gettext    msgfmt compiles the interface's translations (locale/*.po) at set-up
# Usage: system-deps.sh PACKAGE...
set -euo pipefail
missing=()
for package in "$@"; do
  case "$package" in
    chromium) [ -x /usr/bin/chromium ] || missing+=(chromium) ;;
    gettext) command -v msgfmt >/dev/null || missing+=(gettext) ;;
    *) command -v "$package" >/dev/null || missing+=("$package") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "Missing Debian packages: ${missing[*]} (install them as root)." >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
