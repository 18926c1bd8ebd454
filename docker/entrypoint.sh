#!/bin/sh
# strongbox's container entrypoint (tini runs it as PID 1's child): checks what a run needs, then
# replaces itself with strongbox, so signals from tini reach strongbox directly.
set -eu
: "${STRONGBOX_CONFIG:=/etc/strongbox/strongbox.yaml}"
: "${STRONGBOX_BIN:=/opt/strongbox/bin/strongbox}"
export STRONGBOX_CONFIG

fail() {
  echo "strongbox-entrypoint: $*" >&2
  exit 2
}

# Commands that need no config: the version, help, keys, a new sample config, the schema.
needs_config=yes
for arg in "$@"; do
  case "$arg" in
    -V|--version|-h|--help|help|keygen|init|schema) needs_config=no ;;
  esac
done
[ "$#" -gt 0 ] || set -- daemon

if [ "$needs_config" = yes ]; then
  [ -e "$STRONGBOX_CONFIG" ] || fail "no config at $STRONGBOX_CONFIG: mount one (-v ./strongbox.yaml:$STRONGBOX_CONFIG:ro) or set STRONGBOX_CONFIG"
  [ -r "$STRONGBOX_CONFIG" ] || fail "$STRONGBOX_CONFIG is not readable by uid $(id -u): check its mode and owner"
fi
# With a read-only root filesystem these must be mounted writable (tmpfs or volumes).
tmp="${TMPDIR:-/tmp}"
[ -w "$tmp" ] || fail "$tmp is not writable: mount a tmpfs there (--tmpfs $tmp), strongbox spools upload parts in it"

exec "$STRONGBOX_BIN" "$@"
