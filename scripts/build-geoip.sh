#!/bin/sh
# Rebuild the demo GeoIP databases geoip/*.mmdb from their JSON source in
# geoip/source/. The build is reproducible (the build epoch comes from the
# source), so rerunning it on an unchanged source leaves the files identical;
# tests/geoip_demo.rs fails if a committed .mmdb drifts from its source.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
for db in city asn anonymous-ip connection-type; do
    ./target/release/gatewatch geoip build "geoip/source/$db.json" -o "geoip/gatewatch-demo-$db.mmdb"
done
