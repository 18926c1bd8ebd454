#!/usr/bin/env bash
# Starts a throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, radosgw) as an S3 server for tests.
#   ceph-rgw.sh start DIR RGW_PORT   → prints "ready" when S3 answers on 127.0.0.1:RGW_PORT
#   ceph-rgw.sh stop DIR             → stops every daemon by PID and waits for them to exit
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?dir}
conf="$dir/ceph.conf"

stop() {
  for p in "$dir"/*.pid; do
    [ -f "$p" ] || continue
    pid=$(cat "$p" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for p in "$dir"/*.pid; do
    [ -f "$p" ] || continue
    pid=$(cat "$p" 2>/dev/null || true)
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$p"
  done
}

if [ "$cmd" = stop ]; then stop; exit 0; fi

port=${3:?rgw port}
mon_port=$((port + 1))
msgr_min=$((port + 2)); msgr_max=$((port + 40))
mkdir -p "$dir/run" "$dir/log"
fsid=$(cat /proc/sys/kernel/random/uuid)
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
ms bind msgr2 = false
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon max pg per osd = 1000
osd crush chooseleaf type = 0
ms bind port min = $msgr_min
ms bind port max = $msgr_max
mon warn on pool no redundancy = false
osd class update on start = false
[mon]
mon data = $dir/mon.\$id
# A test cluster on a nearly full disk still starts (the default refuses below 5 % free).
mon data avail crit = 1
[osd]
osd data = $dir/osd.\$id
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw dns name = localhost
CONF
C="-c $conf"
monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon $C --mkfs -i a --monmap "$dir/monmap" >/dev/null 2>&1
ceph-mon $C -i a
for _ in $(seq 1 100); do timeout 5 ceph $C mon stat >/dev/null 2>&1 && break; sleep 0.2; done
uuid=$(cat /proc/sys/kernel/random/uuid)
id=$(ceph $C osd new "$uuid")
mkdir -p "$dir/osd.$id"
ceph-osd $C -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
# The OSD sometimes asks the monitor before it has the cluster fsid ("wrong fsid") and exits: try again.
for attempt in 1 2 3 4 5; do
  ceph-osd $C -i "$id" 2>>"$dir/log/osd-start.err" && break
  [ "$attempt" = 5 ] && { echo "ceph-osd would not start; see $dir/log" >&2; exit 1; }
  sleep 0.5
done
for _ in $(seq 1 150); do ceph $C osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.2; done
mkdir -p "$dir/rgw"
radosgw $C -n client.rgw.a
for _ in $(seq 1 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
  [ "$code" = 200 ] && { echo ready; exit 0; }
  sleep 0.2
done
echo "radosgw did not come up; see $dir/log" >&2
exit 1
