#!/usr/bin/env bash
# Starts SoftPOS on its embedded defaults: the simulated reader with a
# virtual Visa card, the built-in terminal configuration, one payment.
# Extra arguments go to `softpos tap` (e.g. --card mastercard-cvn16 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$#" -eq 0 ]; then
  set -- --card visa-cvn18 --amount 2500 --currency CNY
fi
exec cargo run --quiet --release -p pos --bin softpos -- tap "$@"
