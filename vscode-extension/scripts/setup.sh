#!/usr/bin/env bash
# Prepares everything the extension's tests need; safe to run again (does only what is missing).
#   1. Debian packages: chromium (UI tests), libkrb5-dev libsecret-1-dev ripgrep and a C++
#      toolchain (code-server's native modules);
#   2. npm ci (when package-lock.json changed since the last install);
#   3. build (esbuild) and the .vsix (vsce);
#   4. code-server 4.100.3 in ${XDG_CACHE_HOME:-~/.cache}/starcoder-lsp/ (outside the repo).
# Env: STARCODER_SKIP_APT=1 to never call apt-get; STARCODER_SKIP_CODE_SERVER=1 to skip step 4.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "system packages"
missing=()
for pkg in chromium libkrb5-dev libsecret-1-dev ripgrep build-essential python3; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ "${STARCODER_SKIP_APT:-}" == 1 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${missing[*]} (install them, or the real-VS-Code tests cannot run)" >&2
  else
    SUDO=""
    [[ "$(id -u)" == 0 ]] || SUDO="sudo"
    echo "installing: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "all present"
fi

step "npm dependencies"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f node_modules/.setup-lock-hash && "$(cat node_modules/.setup-lock-hash)" == "$lock_hash" ]]; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.setup-lock-hash
fi

step "build and package"
npm run --silent build
npm run --silent package

if [[ "${STARCODER_SKIP_CODE_SERVER:-}" != 1 ]]; then
  step "code-server"
  bash scripts/install-code-server.sh
fi
