#!/usr/bin/env bash
# Starts (or stops) one pcscd with vsmartcard's vpcd driver, so the PC/SC
# tests talk to a real PC/SC stack whose "card" is a cardsim virtual card
# connected over TCP (cardsim::vpcd, port 35963). Debian 12; run as root.
# Idempotent: `start` installs only what is missing and leaves a running
# pcscd alone; `stop` stops only the pcscd this script started.
#
#   bash scripts/pcscd.sh start
#   SOFTPOS_PCSC_TESTS=1 cargo test -p pos --features pcsc \
#       --test pcsc_transactions --test pcsc_cli -- --test-threads=1
#   bash scripts/pcscd.sh stop
set -euo pipefail

LOG="${SOFTPOS_PCSCD_LOG:-/tmp/softpos-pcscd.log}"
PIDFILE=/tmp/softpos-pcscd.pid
SOCKET=/run/pcscd/pcscd.comm
# Debian's vsmartcard-vpcd installs this; its CHANNELID 0x8C7B is the TCP
# port (35963) the driver listens on for a virtual card.
VPCD_CONF=/etc/reader.conf.d/vpcd

die() { echo "pcscd.sh: $*" >&2; exit 1; }

running_pid() {
    # The pid of a live pcscd, ours or the system's, if any.
    local pid
    for f in "$PIDFILE" /run/pcscd/pcscd.pid; do
        [ -f "$f" ] || continue
        pid="$(tr -dc '0-9' <"$f")"
        if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = pcscd ]; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

install_missing() {
    local missing=()
    for p in pcscd vsmartcard-vpcd libpcsclite-dev; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "pcscd.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        # The package's postinst may try to start a service; there is no
        # systemd in containers and we start pcscd ourselves below.
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
    fi
    [ -f "$VPCD_CONF" ] || die "$VPCD_CONF is missing: is vsmartcard-vpcd installed?"
}

start() {
    [ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts pcscd)"
    install_missing
    local pid
    if pid="$(running_pid)"; then
        echo "pcscd.sh: pcscd already running (pid $pid)"
    else
        mkdir -p /run/pcscd
        rm -f "$SOCKET"
        # --foreground keeps it a child we can stop by pid; --debug and
        # --apdu put every APDU in the log, which is what one reads when a
        # test fails.
        nohup pcscd --foreground --debug --apdu >"$LOG" 2>&1 &
        pid=$!
        echo "$pid" >"$PIDFILE"
        echo "pcscd.sh: started pcscd (pid $pid), log $LOG"
    fi
    # Ready when the client socket exists and the vpcd driver has opened its
    # port (it listens for the virtual card as soon as the reader loads).
    for _ in $(seq 1 100); do
        if [ -S "$SOCKET" ] && port_open 35963; then
            echo "pcscd.sh: ready (vpcd listening on 127.0.0.1:35963)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOG" >&2 || true; die "pcscd exited"; }
        sleep 0.1
    done
    tail -n 20 "$LOG" >&2 || true
    # A pcscd started before vsmartcard-vpcd was installed has no vpcd reader.
    die "pcscd (pid $pid) did not open the vpcd port 35963 within 10 s: if it ran before \
vsmartcard-vpcd was installed, stop it and run this again"
}

port_open() {
    # /proc/net/tcp lists listening sockets (state 0A) with the port in hex.
    local hex
    hex="$(printf '%04X' "$1")"
    grep -q ":$hex [0-9A-F:]* 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

stop() {
    [ -f "$PIDFILE" ] || { echo "pcscd.sh: no pcscd started by this script"; return 0; }
    local pid
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = pcscd ]; then
        kill "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        echo "pcscd.sh: stopped pcscd (pid $pid)"
    else
        echo "pcscd.sh: pcscd (pid ${pid:-?}) was not running"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if pid="$(running_pid)"; then echo "pcscd running (pid $pid)"; else echo "pcscd not running"; exit 1; fi
        ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
