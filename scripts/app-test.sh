#!/usr/bin/env bash
# Tests the merchant app: Debian deps, the UI (vitest, type check, build),
# src-tauri (fmt, clippy, unit tests incl. the generated-types check), then
# end-to-end tests driving the real window with tauri-driver and
# WebKitWebDriver under Xvfb. Screenshots land in docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
bash scripts/app-deps.sh
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
target="${CARGO_TARGET_DIR:-$repo/src-tauri/target}"

step() { printf '\n== app: %s\n' "$*"; }

step "ui: npm ci, unit tests, type check, build"
# `npm install` only when npm 11's stricter `npm ci` refuses a lock file
# that lacks rollup's other-platform packages (a registry mirror that does
# not hold them cannot write them into the lock).
(cd ui && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; } && npm test && npm run typecheck && npm run build)

step "pcscd with vpcd, cupsd with a test queue"
# The app's hardware tests: a cardsim card in pcscd's vpcd reader, and a
# file-backed CUPS queue. Both scripts install what they need (as root).
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/pcscd.sh start
  bash scripts/cups.sh start
  export SOFTPOS_PCSC_TESTS=1 SOFTPOS_CUPS_TESTS=1
  # The e2e test puts a virtual card in the vpcd reader with it.
  CARGO_TARGET_DIR="$target" cargo build --quiet -p cardsim --bin cardsim-vpcd
  export SOFTPOS_VPCD_BIN="$target/debug/cardsim-vpcd"
else
  echo "app-test: not root: the PC/SC and CUPS tests skip"
fi

step "src-tauri: fmt, clippy, tests"
(cd src-tauri &&
  cargo fmt -- --check &&
  cargo clippy --all-targets --features custom-protocol --quiet -- -D warnings &&
  cargo test --features custom-protocol --quiet &&
  cargo build --features custom-protocol --quiet)

step "tauri-driver"
if [ ! -x .tools/bin/tauri-driver ]; then
  # Its own target dir: the app's build lock is not held up.
  CARGO_TARGET_DIR="$repo/.tools/target" cargo install tauri-driver --locked --root .tools --version '^2'
fi

step "e2e (xvfb)"
PATH="$repo/.tools/bin:$PATH" xvfb-run -a -s "-screen 0 1280x1024x24" \
  node ui/e2e/run.mjs "$target/debug/softpos-app"
