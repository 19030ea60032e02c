#!/usr/bin/env bash
# Installs what the tests need and runs them all: formatting, lints, unit
# and integration tests (SQLite and a real PostgreSQL), the recorded-session
# corpus, and a short smoke run of each fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "PostgreSQL"
pg_out="$(bash scripts/postgres.sh)"
echo "$pg_out" | grep -v '^export '
eval "$(echo "$pg_out" | grep '^export ')"

mkdir -p target
step "tests"
cargo test --workspace --quiet 2>&1 | tee target/test-output.txt

step "recorded sessions"
cargo run --quiet --release -p pos --bin softpos -- replay tests/sessions

if [ -f scripts/fuzz-smoke.sh ]; then
  step "fuzz smoke"
  bash scripts/fuzz-smoke.sh
fi
