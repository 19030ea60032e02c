#!/usr/bin/env bash
# Installs what the tests need and runs them all: formatting, lints, unit
# and integration tests (SQLite and a real PostgreSQL; the reader drivers
# through a real pcscd with vpcd and real libnfc with a PN532 emulator), the
# recorded-session corpus, and a short smoke run of each fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
bash scripts/nfc-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "pcscd with vpcd"
bash scripts/pcscd.sh start
trap 'bash scripts/pcscd.sh stop || true' EXIT

step "lints"
cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings

step "PostgreSQL"
pg_out="$(bash scripts/postgres.sh)"
echo "$pg_out" | grep -v '^export '
eval "$(echo "$pg_out" | grep '^export ')"

step "pain.001 schema (the acquirer's payout files are validated against it)"
xsd_out="$(bash scripts/pain001-xsd.sh)"
echo "$xsd_out" | grep -v '^export ' || true
eval "$(echo "$xsd_out" | grep '^export ' || true)"

mkdir -p target
step "tests"
cargo test --workspace --all-features --quiet 2>&1 | tee target/test-output.txt

step "PC/SC tests (one pcscd, one at a time)"
SOFTPOS_PCSC_TESTS=1 cargo test -p pos --features pcsc --quiet \
  --test pcsc_transactions --test pcsc_cli -- --test-threads=1

step "recorded sessions"
# The debug build the tests already made: no second, release compile.
cargo run --quiet -p pos --bin softpos -- replay tests/sessions

step "fuzz smoke"
bash scripts/fuzz-smoke.sh

step "merchant app (UI unit tests, src-tauri, end to end in a real window under Xvfb)"
bash scripts/app-test.sh
