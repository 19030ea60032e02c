#!/usr/bin/env bash
# A short run of each fuzz target (CI smoke test; long runs are recorded in
# docs/benchmarks.md). Uses the nightly toolchain when rustup has one, else
# the stable one with RUSTC_BOOTSTRAP, as cargo-fuzz needs unstable flags.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

for target in $(cargo "${toolchain[@]}" fuzz list); do
  echo "fuzz-smoke: $target for ${seconds}s"
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log="$(mktemp)"
  status=0
  cargo "${toolchain[@]}" fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz-smoke: $target failed (exit $status):"
    tail -40 "$log"
    exit 1
  fi
done
