#!/usr/bin/env bash
# make bench: full-size models, Kite vs onnxruntime (and OpenVINO) alternately, at 1 and 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
KITE=${KITE:-.build/release/kite}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
ROUNDS=${ROUNDS:-5}
PER_ROUND=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
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
    # Alternate the engines in ROUNDS rounds of RUNS/ROUNDS runs each, so that a drift of the
    # machine's speed within the minutes a network takes hits every engine alike; an engine's
    # figure is the median of its rounds' medians. Five rounds: this VM's speed swung by up to
    # 1.6x within seconds (a Zen 1 session), and shorter rounds spread the swings over the
    # engines more evenly.
    ks=(); os=(); vs=()
    for r in $(seq "$ROUNDS"); do
      ks+=("$($KITE bench "$kitefile" --threads $t --runs $PER_ROUND --warmup $WARMUP --floor --json | tr -d '\n')")
      os+=("$($PY bench/peers.py "$onnx" --threads $t --runs $PER_ROUND --warmup $WARMUP --peer onnxruntime)")
      if [ $HAVE_OV = 1 ]; then vs+=("$($PY bench/peers.py "$onnx" --threads $t --runs $PER_ROUND --warmup $WARMUP --peer openvino)"); else vs+=('{}'); fi
    done
    row=$($PY - "$net" "$t" "$ROUNDS" "${ks[@]}" "${os[@]}" "${vs[@]}" <<'PY'
import json, statistics, sys
net, t, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.loads(x) for x in sys.argv[4:]]
k, o, v = runs[:n], runs[n:2 * n], runs[2 * n:]
def median(rs):
    ms = [r["median_ms"] for r in rs if r.get("median_ms")]
    return statistics.median(ms) if ms else None
def peak(rs, key):
    xs = [r[key] for r in rs if r.get(key)]
    return max(xs) if xs else None
km, om, vm = median(k), median(o), median(v)
best = min(x for x in (om, vm) if x) if (om or vm) else None
f = lambda x: f"{x:.2f}" if x else "-"
r = lambda a, b: f"{a / b:.2f}" if a and b else "-"
opk, oimp = peak(o, "peak_rss_mb"), peak(o, "import_rss_mb")
mem = f"{opk:.0f} ({opk - (oimp or 0):.0f})" if opk else "-"
# FLOP floor: the run's FLOPs at the best peak measured in its rounds (2 x MACs / peak).
flops, kpeak = peak(k, "flops"), peak(k, "peak_gflops")
floor_ms = flops / (kpeak * 1e6) if flops and kpeak else None
arena, bound = peak(k, "arena_bytes"), peak(k, "arena_lower_bound_bytes")
def median_of(rs, key):
    xs = [r[key] for r in rs if r.get(key)]
    return statistics.median(xs) if xs else None
kl, ol = median_of(k, "load_ms"), median_of(o, "load_ms")
load = lambda x: f"{x:.1f}" if x else "-"
print(f"| {net} | {t} | {f(km)} | {f(om)} | {f(vm)} | {r(km, om)} | {r(km, best)} | {r(km, floor_ms)} | {r(arena, bound)} "
      f"| {peak(k, 'peak_rss_mb') or 0:.0f} | {mem} | {load(kl)} | {load(ol)} |")
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
  echo "Median latency in ms, batch 1, full-size models with random weights (\`Samples/generate.py --full\`):"
  echo "the engines run alternately in $ROUNDS rounds of $PER_ROUND runs (each after $WARMUP warm-up runs), and each"
  echo "figure is the median of an engine's $ROUNDS round medians."
  echo "CPU: $cpu, $(nproc) cores. onnxruntime $ort (all graph optimisations, sequential, intra-op"
  echo "threads = Kite's threads); OpenVINO $ov (f32 inference precision, latency hint)."
  echo "Ratios below 1 mean Kite is faster. Peak RSS is the whole process's peak resident memory"
  echo '(`kite bench`; for onnxruntime the Python process, with in brackets the part above the'
  echo "interpreter with onnxruntime imported, before the model was loaded). Kite/FLOP floor is Kite's median over"
  echo "the time its FLOPs (2 x MACs of direct convolution) take at the peak \`kite bench --floor\` measures (an FMA"
  echo "loop, per core times threads); arena/bound is the activation arena over the largest set of tensors alive at once."
  echo "Load ms is the time to open the model ready to run, the median of the rounds: Kite from the converted \`.kite\`"
  echo "file (\`kite bench\`'s load_ms: decode and plan, weights packed), onnxruntime from the ONNX file (session creation"
  echo "with its graph optimisations)."
  echo
  echo "| network | threads | Kite ms | onnxruntime ms | OpenVINO ms | Kite/onnxruntime | Kite/best peer | Kite/FLOP floor | arena/bound | Kite peak RSS MB | onnxruntime peak RSS MB (above import) | Kite load ms | onnxruntime load ms |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > bench/results.md
echo "wrote bench/results.md"
