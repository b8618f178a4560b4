#!/usr/bin/env bash
# Install gatewatch as a systemd service on a gateway (Debian/Ubuntu or any
# systemd distribution). Idempotent: run it again after `git pull` to upgrade;
# an existing /etc/gatewatch/gatewatch.toml is never overwritten (the
# shipped one is put beside it as gatewatch.toml.dist).
#
#   sudo apt-get install -y libpcap-dev build-essential pkg-config
#   sudo scripts/install.sh            # build with --features live, install
#   sudo scripts/install.sh --no-build # install target/release/gatewatch as is
#
# DESTDIR=/some/root stages the files there instead (packaging, tests); the
# system is then left alone (no user creation, no daemon-reload).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

DESTDIR=${DESTDIR:-}
bin=target/release/gatewatch

if [ "$build" = 1 ]; then
    if ! { pkg-config --exists libpcap 2>/dev/null || [ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ]; }; then
        echo "install.sh: libpcap headers not found; install libpcap-dev (apt-get install -y libpcap-dev)" >&2
        exit 1
    fi
    cargo build --release --locked --features live
fi
if [ ! -x "$bin" ]; then
    echo "install.sh: $bin is missing; run without --no-build" >&2
    exit 1
fi

install -D -m 0755 "$bin" "$DESTDIR/usr/local/bin/gatewatch"
install -D -m 0644 systemd/gatewatch.service "$DESTDIR/etc/systemd/system/gatewatch.service"
install -D -m 0644 systemd/sysusers.d/gatewatch.conf "$DESTDIR/usr/lib/sysusers.d/gatewatch.conf"
install -D -m 0644 systemd/tmpfiles.d/gatewatch.conf "$DESTDIR/usr/lib/tmpfiles.d/gatewatch.conf"
install -D -m 0644 README.md "$DESTDIR/usr/share/doc/gatewatch/README.md"
install -D -m 0644 systemd/README.md "$DESTDIR/usr/share/doc/gatewatch/systemd.md"
conf="$DESTDIR/etc/gatewatch/gatewatch.toml"
if [ -e "$conf" ]; then
    install -m 0644 systemd/gatewatch.toml "$conf.dist"
    echo "install.sh: kept $conf (the shipped default is $conf.dist)"
else
    install -D -m 0644 systemd/gatewatch.toml "$conf"
fi
"$DESTDIR/usr/local/bin/gatewatch" check-config "$conf"

if [ -z "$DESTDIR" ]; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers gatewatch.conf
    elif ! id gatewatch >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/gatewatch --shell /usr/sbin/nologin gatewatch
    fi
    if command -v systemd-tmpfiles >/dev/null; then
        systemd-tmpfiles --create gatewatch.conf
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        if systemctl is-active --quiet gatewatch; then
            systemctl restart gatewatch
            echo "install.sh: gatewatch restarted"
        else
            echo "install.sh: set the interface in /etc/gatewatch/gatewatch.toml, then: systemctl enable --now gatewatch"
        fi
    else
        echo "install.sh: systemd is not running here; the files are in place"
    fi
fi
