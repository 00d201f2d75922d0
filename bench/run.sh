#!/usr/bin/env bash
# make bench: full-size models, Kite vs onnxruntime (and OpenVINO) alternately, at 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
KITE=.build/release/kite
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
MODELS=bench/models
OUT=bench/out
mkdir -p "$OUT"
[ -f "$MODELS/manifest.json" ] || $PY Samples/generate.py --full --out "$MODELS"
$PY -c "import openvino" 2>/dev/null && HAVE_OV=1 || HAVE_OV=0
NETS=${NETS:-$(ls $MODELS/*.onnx | xargs -n1 basename | sed 's/.onnx$//')}
rows=()
for net in $NETS; do
  onnx="$MODELS/$net.onnx"
  kitefile="$OUT/$net.kite"
  $KITE convert "$onnx" -o "$kitefile" > /dev/null 2>&1 || { echo "$net: convert failed"; continue; }
  for t in 1 2; do
    # Alternate the engines so machine noise hits both alike.
    k1=$($KITE bench "$kitefile" --threads $t --runs $RUNS --warmup $WARMUP --json)
    o1=$($PY bench/peers.py "$onnx" --threads $t --runs $RUNS --warmup $WARMUP --peer onnxruntime)
    v1='{}'
    [ $HAVE_OV = 1 ] && v1=$($PY bench/peers.py "$onnx" --threads $t --runs $RUNS --warmup $WARMUP --peer openvino)
    row=$($PY - "$net" "$t" "$k1" "$o1" "$v1" <<'PY'
import json, sys
net, t, k, o, v = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:])
km, om, vm = k.get("median_ms"), o.get("median_ms"), v.get("median_ms")
best = min(x for x in (om, vm) if x) if (om or vm) else None
f = lambda x: f"{x:.2f}" if x else "-"
r = lambda a, b: f"{a / b:.2f}" if a and b else "-"
mem = lambda d: f"{d['peak_rss_mb']:.0f} ({d['peak_rss_mb'] - d.get('import_rss_mb', 0):.0f})" if d.get("peak_rss_mb") else "-"
print(f"| {net} | {t} | {f(km)} | {f(om)} | {f(vm)} | {r(km, om)} | {r(km, best)} | {k.get('peak_rss_mb', 0):.0f} | {mem(o)} |")
PY
)
    echo "$row"
    rows+=("$row")
  done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
ort=$($PY -c "import onnxruntime; print(onnxruntime.__version__)")
ov=$($PY -c "import openvino; print(openvino.__version__)" 2>/dev/null || echo "not installed")
{
  echo "# Kite vs onnxruntime and OpenVINO"
  echo
  echo "Median latency in ms over $RUNS runs (after $WARMUP warm-up runs), batch 1, full-size models"
  echo "with random weights (\`Samples/generate.py --full\`), run alternately in the same session."
  echo "CPU: $cpu, $(nproc) cores. onnxruntime $ort (all graph optimisations, sequential, intra-op"
  echo "threads = Kite's threads); OpenVINO $ov (f32 inference precision, latency hint)."
  echo "Ratios below 1 mean Kite is faster. Peak RSS is the whole process's peak resident memory"
  echo '(`kite bench`; for onnxruntime the Python process, with in brackets the part above the'
  echo "interpreter with onnxruntime imported, before the model was loaded)."
  echo
  echo "| network | threads | Kite ms | onnxruntime ms | OpenVINO ms | Kite/onnxruntime | Kite/best peer | Kite peak RSS MB | onnxruntime peak RSS MB (above import) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > bench/results.md
echo "wrote bench/results.md"
