"""Times onnxruntime (and OpenVINO when installed) on one model: the peers side of `make bench`.

Usage: peers.py MODEL.onnx --threads N --runs R --warmup W
Prints one JSON object per peer on stdout: {"peer": ..., "median_ms": ..., "p10_ms": ..., "p90_ms": ...,
"load_ms": ..., "peak_rss_mb": ..., "import_rss_mb": ...}: the time to open the model ready to run (like
`kite bench`'s load_ms), the process's peak resident memory (interpreter, library, model and buffers, like
`kite bench`'s peak_rss_mb) and its resident memory once the library was imported, before the model was
loaded.
"""
import argparse
import json
import resource
import time

import numpy as np


def stats(times):
    times = sorted(times)
    return {"median_ms": float(np.percentile(times, 50)), "p10_ms": float(np.percentile(times, 10)),
            "p90_ms": float(np.percentile(times, 90))}


def resident_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_resident_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def make_input(shape):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, size=shape).astype(np.float32)


def time_calls(call, runs, warmup):
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def onnxruntime_peer(path, threads, runs, warmup):
    import onnxruntime as ort
    imported = resident_mb()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    start = time.perf_counter()
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1e3
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    feed = {inp.name: make_input(shape)}
    result = stats(time_calls(lambda: sess.run(None, feed), runs, warmup))
    result["import_rss_mb"] = imported
    result["load_ms"] = load_ms
    return result


def openvino_peer(path, threads, runs, warmup):
    import openvino as ov
    imported = resident_mb()
    core = ov.Core()
    start = time.perf_counter()
    model = core.read_model(path)
    shape = [d.get_length() if d.is_static else 1 for d in model.inputs[0].get_partial_shape()]
    model.reshape({model.inputs[0].any_name: shape})
    # f32 inference precision: OpenVINO defaults to bf16 on CPUs that have it.
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": "f32",
                                                 "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1})
    request = compiled.create_infer_request()
    load_ms = (time.perf_counter() - start) * 1e3
    x = make_input(shape)
    result = stats(time_calls(lambda: request.infer({0: x}), runs, warmup))
    result["import_rss_mb"] = imported
    result["load_ms"] = load_ms
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--peer", choices=["onnxruntime", "openvino"], default="onnxruntime")
    a = ap.parse_args()
    fn = onnxruntime_peer if a.peer == "onnxruntime" else openvino_peer
    try:
        result = fn(a.model, a.threads, a.runs, a.warmup)
        result["peer"] = a.peer
        result["peak_rss_mb"] = peak_resident_mb()
    except Exception as e:  # a peer that cannot run the model is reported, not fatal
        result = {"peer": a.peer, "error": str(e).splitlines()[0][:200]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
