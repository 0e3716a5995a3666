#!/usr/bin/env bash
# Soak test (not in CI): N rounds of "start a job, kill -9 its worker at a random point, start another worker",
# against a throwaway PostgreSQL. Reports survived/total and the time from each kill to the resume.
# Needs: root (PostgreSQL runs as postgres via runuser), a Release build (dotnet build -c Release), curl, python3.
# Usage: scripts/soak.sh [ROUNDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
WORK=$(mktemp -d /tmp/pix2pix-soak.XXXXXX); chown postgres "$WORK"
PG_PORT=$((20000 + RANDOM % 10000)); API_PORT=$((30000 + RANDOM % 5000)); WORKER_PORT=$((35000 + RANDOM % 5000))
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; runuser -u postgres -- "$BIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
set +m 2>/dev/null; exec 3>&2 # keep job-control chatter about killed workers out of the report

runuser -u postgres -- "$BIN/initdb" -D "$WORK/pg" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
runuser -u postgres -- "$BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK" start >/dev/null
runuser -u postgres -- "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE soak" >/dev/null

export ConnectionStrings__Database="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=soak"
export Blobs__Provider=FileSystem Blobs__Directory="$WORK/blobs" Worker__Threads=1 Worker__LeaseDuration=00:00:04
export Worker__WatchdogInterval=00:00:01 Worker__MaxAttempts=100 LD_PRELOAD=libjemalloc.so.2 ASPNETCORE_ENVIRONMENT=Production
start() { # project port name
  Storage__DataDirectory="$WORK/$3" Worker__InProcess=false dotnet "src/$1/bin/Release/net10.0/linux-x64/Pix2Pix.$1.dll" --urls "http://127.0.0.1:$2" >"$WORK/$3.log" 2>&1 &
  PIDS+=($!); LAST=$!
  until curl -sf "http://127.0.0.1:$2/healthz/ready" >/dev/null; do sleep 0.2; done
}
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
psql_() { runuser -u postgres -- "$BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d soak -Atc "$1"; }

start Api "$API_PORT" api
API=http://127.0.0.1:$API_PORT
python3 - "$WORK/dataset.zip" <<'PY'
import sys, zipfile, struct, zlib, random
def png(w, h, seed):
    r = random.Random(seed); raw = b''
    c = [bytes([r.randrange(256) for _ in range(3)]) for _ in range(4)]
    for y in range(h): raw += b'\0' + b''.join(c[(x // 8 + y // 8) % 4] for x in range(w))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for i in range(6): z.writestr(f'train/{i}.png', png(64, 32, i))
    z.writestr('val/0.png', png(64, 32, 99))
PY
DATASET=$(curl -sf -F file=@"$WORK/dataset.zip" "$API/datasets" | json "['id']")

survived=0; delays=()
for round in $(seq 1 "$ROUNDS"); do
  JOB=$(curl -sf -H 'Content-Type: application/json' -d "{\"datasetId\":\"$DATASET\",\"modelName\":\"soak-$round\",\"options\":{\"generator\":\"unet_32\",\"generatorFilters\":16,\"discriminatorFilters\":16,\"loadSize\":36,\"cropSize\":32,\"epochs\":40,\"decayEpochs\":0,\"snapshotEvery\":1000,\"checkpointEvery\":5,\"seed\":$round}}" "$API/jobs/train" | json "['id']")
  start Worker "$WORKER_PORT" "worker-$round-a"; VICTIM=$LAST
  sleep "$(python3 -c "import random; print(round(random.uniform(1.5, 8), 1))")"
  kill -9 "$VICTIM"; KILLED=$(date +%s%3N)
  start Worker "$((WORKER_PORT + 1))" "worker-$round-b"; SURVIVOR=$LAST
  for _ in $(seq 1 600); do
    STATUS=$(curl -sf "$API/jobs/$JOB" | json "['status']") || STATUS=unknown
    case "$STATUS" in Succeeded|Failed|Cancelled) break;; esac; sleep 0.5
  done
  ITER=$(curl -sf "$API/jobs/$JOB" | json "['iteration']")
  RESUMED=$(psql_ "SELECT acquired_at FROM job_leases WHERE job_id = '$JOB' ORDER BY token DESC LIMIT 1")
  LEASES=$(psql_ "SELECT count(*) FROM job_leases WHERE job_id = '$JOB'")
  DELAY=$(( RESUMED > KILLED ? RESUMED - KILLED : 0 ))
  echo "round $round: $STATUS, iteration $ITER/240, $LEASES lease(s), resumed $((DELAY / 1000)).$((DELAY % 1000 / 100)) s after the kill"
  if [ "$STATUS" = Succeeded ] && [ "$ITER" = 240 ]; then survived=$((survived + 1)); delays+=("$DELAY"); fi
  kill -9 "$SURVIVOR" 2>/dev/null || true
done
echo "survived $survived/$ROUNDS; kill-to-resume ms: ${delays[*]:-none}"
