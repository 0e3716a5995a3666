#!/usr/bin/env bash
# Translate under load, measured in one run on one machine (not in CI). First the bare translator (`bench infer`: each
# precision at batch 1, 4 and 8, and ONNX Runtime on the same package exported by Debian's PyTorch where it is
# installed); then the service on a temp folder with that package imported: 1, 8 and 48 clients on a 256² PNG
# (`bench load`, clients wait out Retry-After), mode=pad on a 4096² PNG with the process's peak RSS above its warm
# level, and the ratios the serving targets are stated in.
# Needs: a Release build (dotnet build -c Release), curl, python3; /usr/bin/python3 with torch for the ONNX row.
# Usage: scripts/serving-bench.sh [PACKAGE.safetensors]   (default: a randomly initialised unet_256, 256²)
# Settings of the service can be varied through the environment (Inference__MaxQueue=16 scripts/serving-bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/pix2pix-serving.XXXXXX); PORT=$((30000 + RANDOM % 5000)); KEY=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
API_PID=
cleanup() { [ -n "$API_PID" ] && { kill "$API_PID" 2>/dev/null || true; wait "$API_PID" 2>/dev/null || true; }; rm -rf "$WORK"; }
trap cleanup EXIT
export LD_PRELOAD=libjemalloc.so.2 MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 ASPNETCORE_ENVIRONMENT=Production
BENCH="dotnet bench/Pix2Pix.Bench/bin/Release/net10.0/linux-x64/Pix2Pix.Bench.dll"
RESULTS=$WORK/results.jsonl

PACKAGE=${1:-$WORK/unet256.safetensors}
[ -n "${1:-}" ] || $BENCH infer --precision float32 --batch 1 --iterations 1 --save "$PACKAGE" >/dev/null
ONNX=()
if LD_PRELOAD= /usr/bin/python3 -c "import torch" 2>/dev/null; then
  LD_PRELOAD= /usr/bin/python3 bench/onnx/export_onnx.py "$PACKAGE" "$WORK/model.onnx" >&2 && ONNX=(--onnx "$WORK/model.onnx")
fi
$BENCH infer --package "$PACKAGE" --batch 1,8 --iterations 40 "${ONNX[@]}" | tee -a "$RESULTS"

python3 - "$WORK" <<'PY'
import random, struct, sys, zlib
def png(path, width, height, pixel):
    rows = b"".join(b"\0" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))
noise = random.Random(1)
png(sys.argv[1] + "/256.png", 256, 256, lambda x, y: (noise.randrange(256), noise.randrange(256), noise.randrange(256)))
png(sys.argv[1] + "/4096.png", 4096, 4096, lambda x, y: (x // 16, y // 16, (x ^ y) & 255))
PY

Storage__DataDirectory="$WORK/data" Auth__BootstrapAdminKey="$KEY" Management__Urls="" RateLimits__TranslatePerMinute=10000000 \
  dotnet src/Api/bin/Release/net10.0/linux-x64/Pix2Pix.Api.dll --urls "http://127.0.0.1:$PORT" >"$WORK/api.log" 2>&1 &
API_PID=$!
API=http://127.0.0.1:$PORT
until curl -sf "$API/healthz/ready" >/dev/null; do sleep 0.5; done
AUTH="Authorization: Bearer $KEY"
MODEL=$(curl -sf -H "$AUTH" -F "file=@$PACKAGE" -F name=bench -F 'manifest={"generator":"unet_256","loadSize":256,"cropSize":256}' \
  "$API/models/import" | python3 -c 'import json,sys; print(json.load(sys.stdin)["modelId"])')
curl -sf -H "$AUTH" -H "Content-Type: image/png" --data-binary "@$WORK/256.png" "$API/models/$MODEL/translate" -o /dev/null

# Warm-up: the thread pool, and the JIT's tiers (its background compiler stays busy for several seconds under load,
# on the cores the forwards need).
$BENCH load --url "$API" --model "$MODEL" --key "$KEY" --image "$WORK/256.png" --clients 8:15 >/dev/null
$BENCH load --url "$API" --model "$MODEL" --key "$KEY" --image "$WORK/256.png" --clients 1:20,8:20,48:20 | tee -a "$RESULTS"

rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$API_PID/status"; }
echo 5 >"/proc/$API_PID/clear_refs"   # resets VmHWM (peak RSS) to the current RSS
warm=$(rss VmRSS)
pad=$(curl -s -H "$AUTH" -H "Content-Type: image/png" --data-binary "@$WORK/4096.png" "$API/models/$MODEL/translate?mode=pad" \
  -o "$WORK/4096-out.png" -w '{"status":%{http_code},"seconds":%{time_total}}')
size=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]) if d[:4]==b"\x89PNG" else "none")' "$WORK/4096-out.png")
echo "{\"command\":\"pad4096\",\"response\":$pad,\"output\":\"$size\",\"warm_rss_mb\":$((warm / 1024)),\"peak_rss_above_warm_mb\":$((($(rss VmHWM) - warm) / 1024))}" | tee -a "$RESULTS"

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
bare = {r["precision"]: r["ms_per_image"] for r in rows if r["command"] == "infer" and r["engine"] == "libtorch" and r["batch"] == 1}
load = {r["clients"]: r for r in rows if r["command"] == "load"}
auto = [r for r in rows if r["command"] == "infer" and r["engine"] == "libtorch" and r["batch"] == 1][-1]["precision"]
one, eight, flood = load[1], load[8], load[48]
print(json.dumps({"command": "serving-summary", "served_precision": auto,
    "one_client_p50_vs_bare_same_precision": round(one["p50_ms"] / bare[auto], 3),
    "one_client_p50_vs_bare_fp32": round(one["p50_ms"] / bare["Float32"], 3),
    "eight_clients_throughput_vs_one": round(eight["ok_per_s"] / one["ok_per_s"], 3),
    "flood_codes": flood["codes"], "flood_p99_ms": flood["p99_ms"]}))
PY
