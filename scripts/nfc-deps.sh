#!/usr/bin/env bash
# Installs what the `nfc1` crate needs to build its bundled libnfc on
# Debian 12 (cmake, libclang for bindgen, pkg-config, a C compiler), and
# nothing else. Safe to run again: it only installs what is missing.
# Without these the nfc transport tests skip with a printed reason.
set -euo pipefail

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

packages=(cmake libclang-dev pkg-config build-essential)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "nfc-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq -o DPkg::Lock::Timeout=300
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${missing[@]}" >/dev/null
else
  echo "nfc-deps: cmake, libclang-dev, pkg-config and build-essential already installed"
fi
