#!/usr/bin/env bash
# Installs code-server (real VS Code, from the npm registry) into a cache folder outside
# the repository, once. Prints the path of the code-server launcher on the last line.
#
#   STARCODER_CODE_SERVER_DIR  where to install (default: ${XDG_CACHE_HOME:-~/.cache}/starcoder-lsp/code-server-4.100.3)
#
# code-server 4.100.3 is VS Code 1.100.3, the newest release that runs on Node 20.
# Its install builds native modules (needs build-essential, libkrb5-dev, libsecret-1-dev);
# npm 11 blocks dependency install scripts unless allowed, hence the allow-all below
# (only for this cache folder).
set -euo pipefail

CS_VERSION="${STARCODER_CODE_SERVER_VERSION:-4.100.3}"
DIR="${STARCODER_CODE_SERVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/starcoder-lsp/code-server-$CS_VERSION}"
BIN="$DIR/node_modules/code-server/out/node/entry.js"

if [[ -f "$DIR/.installed" && -f "$BIN" ]]; then
  echo "$DIR/node_modules/.bin/code-server"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is needed to install code-server" >&2; exit 1; }
command -v rg >/dev/null || { echo "ripgrep (rg) is needed: apt-get install ripgrep" >&2; exit 1; }

mkdir -p "$DIR"
# @vscode/ripgrep downloads a binary at install time, which cannot be reached here:
# pre-fill its download cache with the system's rg.
TMP="${TMPDIR:-/tmp}"
for rgver in 1.15.11 1.15.9 1.15.10 1.15.14; do
  cache="$TMP/vscode-ripgrep-cache-$rgver"
  mkdir -p "$cache"
  for tag in v13.0.0-10 v13.0.0-11 v13.0.0-12 v13.0.0-13; do
    tarball="$cache/ripgrep-$tag-x86_64-unknown-linux-musl.tar.gz"
    if [[ ! -s "$tarball" ]]; then
      stage="$(mktemp -d)"
      cp "$(command -v rg)" "$stage/rg"
      tar -czf "$tarball" -C "$stage" rg
      rm -rf "$stage"
    fi
  done
done

cd "$DIR"
[[ -f package.json ]] || echo '{"name":"code-server-cache","private":true}' > package.json
echo "installing code-server@$CS_VERSION into $DIR (a few minutes)..." >&2
npm_config_build_from_source=true npm_config_yes=true npm_config_unsafe_perm=true npm_config_dangerously_allow_all_scripts=true \
  npm install --no-audit --no-fund --foreground-scripts "code-server@$CS_VERSION" >&2
[[ -f "$BIN" ]] || { echo "code-server install failed: $BIN missing" >&2; exit 1; }
VS="$DIR/node_modules/code-server/lib/vscode/node_modules"
for native in "@vscode/spdlog/build/Release/spdlog.node" "node-pty/build/Release/pty.node" "@vscode/ripgrep/bin/rg"; do
  [[ -e "$VS/$native" ]] || { echo "code-server install incomplete: $VS/$native missing (native build or install scripts blocked?)" >&2; exit 1; }
done
touch "$DIR/.installed"
echo "$DIR/node_modules/.bin/code-server"
