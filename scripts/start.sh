#!/usr/bin/env bash
# Starts SoftPOS on its embedded defaults. With a display: the merchant app
# in demo mode (acquirer embedded on SQLite, virtual card reader, activation
# code prefilled; scripts/app-start.sh). Without one, or with --cli: one
# simulated tap on a virtual Visa card in the terminal; further arguments go
# to `softpos tap` (e.g. --cli --card mastercard-cvn16 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--cli" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  exec bash scripts/app-start.sh "$@"
fi
[ "${1:-}" = "--cli" ] && shift
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "start.sh: no display (DISPLAY/WAYLAND_DISPLAY unset): a simulated tap in the terminal instead;" >&2
  echo "          on a desktop this starts the merchant app (or: xvfb-run ./scripts/app-start.sh)" >&2
fi
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$#" -eq 0 ]; then
  set -- --card visa-cvn18 --amount 2500 --currency CNY
fi
exec cargo run --quiet --release -p pos --bin softpos -- tap "$@"
