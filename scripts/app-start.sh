#!/usr/bin/env bash
# Starts the merchant app in demo mode: an acquirer embedded in the app
# (127.0.0.1, a free port, SQLite in the app's data directory, demo seed),
# the simulated card reader, and an activation code already issued and
# shown prefilled. Set SOFTPOS_ACQUIRER=http://host:port for a real
# acquirer instead, SOFTPOS_DATA_DIR for another data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/app-deps.sh
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-$PWD/src-tauri/target}"
(cd ui && { [ -d node_modules ] || { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; }; } && npm run build)
(cd src-tauri && cargo build --quiet --features custom-protocol)
exec "$target/debug/softpos-app" "$@"
