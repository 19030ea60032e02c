#!/usr/bin/env bash
# Installs what the merchant app (src-tauri + ui) needs on Debian 12:
# WebKitGTK 4.1 and friends to build Tauri 2, and for the end-to-end tests
# WebKitWebDriver, Xvfb and xauth. Safe to run again: it only installs what
# is missing (checked with dpkg -s), and never bundles or installs tauri-cli.
# A CJK font (WenQuanYi Micro Hei) so that the zh-CN screens are legible.
# The app drives PC/SC and libnfc readers (pos's pcsc and nfc features):
# libpcsclite-dev to link, cmake and libclang-dev to build libnfc.
set -euo pipefail

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

packages=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  libssl-dev pkg-config build-essential webkit2gtk-driver xvfb xauth
  fonts-wqy-microhei libpcsclite-dev cmake libclang-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "app-deps: installing ${missing[*]}"
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "app-deps: WebKitGTK, WebKitWebDriver and Xvfb already installed"
fi

# Vite 7 needs Node.js 20.19 or later; Debian 12's own nodejs is 18.
node_major="$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || true)"
if [ -z "$node_major" ] || [ "$node_major" -lt 20 ]; then
  echo "app-deps: Node.js 20 or later is needed to build ui/ (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "app-deps: install it from https://nodejs.org/ or NodeSource, then run this again." >&2
  exit 1
fi
