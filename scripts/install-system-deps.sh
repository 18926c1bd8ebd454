#!/usr/bin/env bash
# Installs the Debian packages strongbox's tests (and hand restores) use, skipping what is there.
#   age, zstd, tar        — hand-restore interop tests
#   tini                  — the container entrypoint test (the image runs under tini)
#   radosgw, ceph-*       — the real S3 server the S3 suites run against
#   postgresql            — a throwaway cluster (initdb/pg_ctl) for the postgres suites
#   prometheus            — promtool, which tests the alert rules in deploy/prometheus
#   restic                — a peer that `npm run bench` times beside strongbox (optional)
#   rclone                — the bench's shell pipeline to S3 (`… | rclone rcat`) for the media-to-S3 line
#   chromium              — headless browser for the status page test (driven by playwright-core)
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "run as root, or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
need=()
command -v age >/dev/null || need+=(age)
command -v zstd >/dev/null || need+=(zstd)
command -v tini >/dev/null || need+=(tini)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v openssl >/dev/null || need+=(openssl)
command -v radosgw >/dev/null || need+=(radosgw)
command -v ceph-mon >/dev/null || need+=(ceph-mon)
command -v ceph-osd >/dev/null || need+=(ceph-osd)
command -v ceph >/dev/null || need+=(ceph-common)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v pg_dump >/dev/null || need+=(postgresql-client)
command -v runuser >/dev/null || need+=(util-linux)
command -v restic >/dev/null || need+=(restic)
command -v rclone >/dev/null || need+=(rclone)
command -v npm >/dev/null || need+=(nodejs npm)
command -v promtool >/dev/null || need+=(prometheus)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
