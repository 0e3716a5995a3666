#!/usr/bin/env bash
# The 64² quality protocol (not in CI): trains unet_64 on facades (labels → photo, BtoA, 10 epochs = 4000 steps) and
# maps (aerial → map, AtoB, 2 epochs = 2192 steps) through the service, for each precision and seed given, one job
# at a time, and prints one JSON line per run: wall time, steps/s and the final version's val L1/PSNR/SSIM.
# Needs: a Release build (dotnet build -c Release), curl, python3, ../shared/datasets/{facades,maps}.
# Usage: scripts/quality-protocol.sh [PRECISIONS="auto fp32"] [SEEDS="1 2"] [DATASETS="facades maps"]
set -euo pipefail
cd "$(dirname "$0")/.."
PRECISIONS=${1:-auto fp32}; SEEDS=${2:-1 2}; DATASETS=${3:-facades maps}
DATA=$(cd ../shared/datasets && pwd)
WORK=$(mktemp -d /tmp/pix2pix-quality.XXXXXX); PORT=$((30000 + RANDOM % 5000)); KEY=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
cleanup() { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

export LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 ASPNETCORE_ENVIRONMENT=Production
Storage__DataDirectory="$WORK/data" Auth__BootstrapAdminKey="$KEY" Management__Urls="" \
  dotnet src/Api/bin/Release/net10.0/linux-x64/Pix2Pix.Api.dll --urls "http://127.0.0.1:$PORT" >"$WORK/api.log" 2>&1 &
API_PID=$!
API=http://127.0.0.1:$PORT
until curl -sf "$API/healthz/ready" >/dev/null; do sleep 0.5; done
AUTH="Authorization: Bearer $KEY"
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

declare -A DATASET DIRECTION EPOCHS
DIRECTION=([facades]=BtoA [maps]=AtoB); EPOCHS=([facades]=5 [maps]=1)
for name in $DATASETS; do
  python3 - "$DATA/$name" "$WORK/$name.zip" <<'PY'
import os, sys, zipfile
source, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
    for split in ("train", "val"):
        for f in sorted(os.listdir(os.path.join(source, split))):
            z.write(os.path.join(source, split, f), f"{split}/{f}")
PY
  DATASET[$name]=$(curl -sf -H "$AUTH" -F "file=@$WORK/$name.zip" -F "name=$name" "$API/datasets" | json 'd["id"]')
done

for seed in $SEEDS; do
  for name in $DATASETS; do
    for precision in $PRECISIONS; do
      e=${EPOCHS[$name]}
      options="{\"direction\":\"${DIRECTION[$name]}\",\"generator\":\"unet_64\",\"loadSize\":72,\"cropSize\":64,\"epochs\":$e,\"decayEpochs\":$e,\"seed\":$seed,\"precision\":\"$precision\"}"
      job=$(curl -sf -H "$AUTH" -H 'Content-Type: application/json' \
        -d "{\"datasetId\":\"${DATASET[$name]}\",\"modelName\":\"$name-$precision-$seed\",\"options\":$options}" "$API/jobs/train" | json 'd["id"]')
      while :; do
        status=$(curl -sf -H "$AUTH" "$API/jobs/$job" | json 'd["status"]')
        [[ $status == Succeeded || $status == Failed || $status == Cancelled ]] && break
        sleep 5
      done
      curl -sf -H "$AUTH" "$API/jobs/$job" > "$WORK/job.json"
      curl -sf -H "$AUTH" "$API/jobs/$job/metrics?after=0&limit=1" > "$WORK/metrics.json"
      model=$(json 'd["modelId"]' < "$WORK/job.json")
      curl -sf -H "$AUTH" "$API/models/$model/versions" > "$WORK/versions.json"
      python3 - "$WORK" "$name" "$precision" "$seed" "$status" <<'PY'
import json, sys
from datetime import datetime
work, name, precision, seed, status = sys.argv[1:]
job = json.load(open(f"{work}/job.json"))
snapshots = json.load(open(f"{work}/metrics.json"))["snapshots"]
versions = json.load(open(f"{work}/versions.json"))
versions = versions.get("items", versions) if isinstance(versions, dict) else versions
final = [s for s in snapshots if s["isFinal"]][-1]["val"] if status == "Succeeded" else None
seconds = (datetime.fromisoformat(job["finishedAt"]) - datetime.fromisoformat(job["startedAt"])).total_seconds()
print(json.dumps({"dataset": name, "precision": precision, "trained_in": versions[-1]["options"]["precision"] if versions else None,
    "seed": int(seed), "status": status, "steps": job["totalIterations"], "seconds": round(seconds, 1),
    "steps_per_s": round(job["totalIterations"] / seconds, 2), "val": final}), flush=True)
PY
    done
  done
done
