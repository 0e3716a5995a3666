#!/bin/bash
# A throwaway single-node Ceph (one monitor, one memstore OSD) with the RADOS Gateway serving S3 on 127.0.0.1,
# for the S3 tests. Needs root and Debian's radosgw, ceph-mon and ceph-osd packages (./test.sh installs them).
# Usage: ceph-rgw.sh DIR MON_PORT RGW_PORT ACCESS_KEY SECRET_KEY   Prints "READY <pids>" when S3 answers.
set -euo pipefail
D=$1; MON_PORT=$2; RGW_PORT=$3; KEY=$4; SECRET=$5
rm -rf "$D"; mkdir -p "$D"/{mon,osd0,run,log,rgw}
FSID=$(cat /proc/sys/kernel/random/uuid)
cat > "$D/ceph.conf" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
# Without this, radosgw hangs when authentication is off.
ms mon client mode = crc secure
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
mon warn on pool no redundancy = false
[mon.a]
mon data = $D/mon
[osd.0]
osd data = $D/osd0
osd objectstore = memstore
memstore device bytes = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
CONF
export CEPH_CONF=$D/ceph.conf
monmaptool --create --add a v2:127.0.0.1:$MON_PORT --fsid "$FSID" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap"
ceph-mon -i a
ceph osd create >/dev/null
ceph-osd -i 0 --mkfs 2>/dev/null
ceph osd crush add osd.0 1.0 host=localhost root=default >/dev/null 2>&1
ceph-osd -i 0 2>/dev/null
for _ in $(seq 1 300); do ceph osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.2; done
radosgw -n client.rgw.a
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break; sleep 0.2; done
radosgw-admin -n client.rgw.a user create --uid=test --display-name=test --access-key="$KEY" --secret="$SECRET" >/dev/null
echo "READY $(cat "$D/run/mon.a.pid") $(cat "$D/run/osd.0.pid") $(cat "$D/run/client.rgw.a.pid")"
