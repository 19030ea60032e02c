#!/usr/bin/env bash
# Starts (or stops) one CUPS scheduler with a file-backed test queue, so the
# app's "Print" is tested against a real cupsd and `lp`: every job sent to
# the queue `softpos-test` is written to $SOFTPOS_CUPS_OUT. Debian 12; run
# as root. Idempotent: `start` installs only what is missing and leaves a
# running cupsd alone; `stop` stops only the cupsd this script started.
#
#   bash scripts/cups.sh start
#   SOFTPOS_CUPS_TESTS=1 cargo test --test cups_print   (in src-tauri)
#   bash scripts/cups.sh stop
set -euo pipefail

LOG="${SOFTPOS_CUPSD_LOG:-/tmp/softpos-cupsd.log}"
PIDFILE=/tmp/softpos-cupsd.pid
QUEUE=softpos-test
OUT="${SOFTPOS_CUPS_OUT:-/tmp/softpos-cups/printed}"
BACKEND=/usr/lib/cups/backend/softpos-file

die() { echo "cups.sh: $*" >&2; exit 1; }

running_pid() {
    local pid
    for f in "$PIDFILE" /run/cups/cupsd.pid; do
        [ -f "$f" ] || continue
        pid="$(tr -dc '0-9' <"$f")"
        if [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = cupsd ]; then
            echo "$pid"
            return 0
        fi
    done
    pid="$(pgrep -x cupsd | head -n1 || true)"
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    return 1
}

install_missing() {
    local missing=()
    for p in cups cups-client; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "cups.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        # No systemd in containers: the postinst cannot start cupsd; we
        # start it ourselves below.
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

start() {
    [ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts cupsd)"
    install_missing
    # A backend that appends each job to the file its device URI names
    # (cupsd's own file: device is off by default and drops raw jobs).
    # Mode 0755: cupsd runs it as user lp.
    cat >"$BACKEND" <<'SH'
#!/bin/sh
# softpos-file:/path - appends each print job to /path (SoftPOS tests).
if [ $# -eq 0 ]; then echo 'direct softpos-file "Unknown" "SoftPOS test file"'; exit 0; fi
out="${DEVICE_URI#softpos-file:}"
if [ $# -ge 6 ]; then cat "$6" >>"$out"; else cat >>"$out"; fi
SH
    chmod 0755 "$BACKEND"
    local pid
    if pid="$(running_pid)"; then
        echo "cups.sh: cupsd already running (pid $pid)"
    else
        mkdir -p /run/cups
        nohup cupsd -f >"$LOG" 2>&1 &
        pid=$!
        echo "$pid" >"$PIDFILE"
        echo "cups.sh: started cupsd (pid $pid), log $LOG"
    fi
    for _ in $(seq 1 100); do
        lpstat -r 2>/dev/null | grep -q "is running" && break
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$LOG" >&2 || true; die "cupsd exited"; }
        sleep 0.1
    done
    lpstat -r | grep -q "is running" || die "cupsd did not answer"
    mkdir -p "$(dirname "$OUT")"
    touch "$OUT"
    # cupsd's backends run as user lp: it must be able to write the file.
    chmod 0777 "$(dirname "$OUT")"
    chmod 0666 "$OUT"
    # Raw: the PDF reaches the file as the app sent it.
    lpadmin -p "$QUEUE" -E -v "softpos-file:$OUT" -m raw 2>/dev/null ||
        lpadmin -p "$QUEUE" -E -v "softpos-file:$OUT"
    cupsenable "$QUEUE"
    cupsaccept "$QUEUE"
    echo "cups.sh: ready (queue $QUEUE prints to $OUT)"
}

stop() {
    local pid
    if [ -f "$PIDFILE" ] && pid="$(tr -dc '0-9' <"$PIDFILE")" && [ -n "$pid" ] &&
        [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = cupsd ]; then
        kill "$pid"
        echo "cups.sh: stopped cupsd (pid $pid)"
    else
        echo "cups.sh: no cupsd started by this script"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) die "usage: cups.sh start|stop" ;;
esac
