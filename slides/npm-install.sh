#!/bin/sh
# slides/npm-install.sh DIR: installs the deck's npm packages (reveal.js, and playwright-core to
# drive Debian's Chromium), pinned by slides/package-lock.json, into DIR/node_modules with
# `npm ci` from npm's registry. Nothing happens when DIR already holds this lock's install.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: slides/npm-install.sh DIR}
stamp="$dest/installed.lock"
if cmp -s "$here/package-lock.json" "$stamp" && [ -d "$dest/node_modules/reveal.js/dist" ] &&
   [ -d "$dest/node_modules/playwright-core" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "slides: npm is missing: run 'make deps' (it installs Debian's npm)" >&2; exit 1; }
mkdir -p "$dest"
rm -f "$stamp"
cp "$here/package.json" "$here/package-lock.json" "$dest/"
echo "slides: installing reveal.js and playwright-core (slides/package-lock.json) into $dest"
if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1); then
  tail -n 20 "$dest/npm-ci.log" >&2
  echo "slides: 'npm ci' failed (log: $dest/npm-ci.log); check the network and npm's registry" >&2
  exit 1
fi
cp "$here/package-lock.json" "$stamp"
