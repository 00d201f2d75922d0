#!/usr/bin/env python3
"""Exports the networks of tools/torch_nets.py with PyTorch's own exporters and checks Kite
against onnxruntime on every file (tooling, not part of `make test`; `make torch-check`).

Exporter settings: TorchScript (dynamo=False) at opsets 9-17 with and without constant
folding, a dynamic batch, a dynamic image size, modules as functions, initializers as inputs;
dynamo (dynamo=True) at opsets 9-21 with and without its optimiser, a dynamic batch; and
model.half() through both. For each file: `kite run` at 1 and 2 threads and `kite convert` then
run from .kite; max|kite - ort| / max(1, max|ort|) must be at most 1e-4 (float16 models are
compared with the float32 model, next to onnxruntime's own error).

Usage: python tools/torch_export_check.py [--kite PATH] [--out DIR] [--nets a,b,...] [--quick]
"""
import argparse
import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def variants(torch, quick):
    if not quick:
        for op in range(9, 18):
            for fold in (True, False):
                yield f"ts{op}{'f' if fold else 'n'}", dict(dynamo=False, opset_version=op, do_constant_folding=fold)
    else:
        for op in (9, 13, 17):
            yield f"ts{op}n", dict(dynamo=False, opset_version=op, do_constant_folding=False)
        yield "ts13f", dict(dynamo=False, opset_version=13)
    yield "ts13dyn", dict(dynamo=False, opset_version=13, dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    yield "ts11dynhw", dict(dynamo=False, opset_version=11,
                            dynamic_axes={"input": {0: "batch", 2: "h", 3: "w"}, "output": {0: "batch"}})
    yield "ts17fn", dict(dynamo=False, opset_version=17, export_modules_as_functions=True)
    yield "ts9inits", dict(dynamo=False, opset_version=9, keep_initializers_as_inputs=True, do_constant_folding=False)
    for op in ((9, 13, 17, 18, 20, 21) if not quick else (18,)):
        yield f"dy{op}", dict(dynamo=True, opset_version=op)
        yield f"dy{op}noopt", dict(dynamo=True, opset_version=op, optimize=False)
    yield "dy18dyn", dict(dynamo=True, opset_version=18, dynamic_shapes={"x": {0: torch.export.Dim("batch", max=64)}})


def in_child(work):
    """Runs `work` in a child process; whether it succeeded. PyTorch's exporter can crash
    (signal 11)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            work()
        except Exception as e:  # noqa: BLE001 - PyTorch's own failures are reported, not Kite's
            print(f"failed: {type(e).__name__}: {str(e).splitlines()[0][:150]}", file=sys.stderr)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status == 0


def export(torch, model, x, path, kw):
    def work():
        with torch.no_grad():
            torch.onnx.export(model, (x,), path, input_names=["input"], output_names=["output"], **kw)
    return in_child(work)


def forward(torch, model, x, path):
    """The float32 model's output, computed in a child and read back."""
    def work():
        with torch.no_grad():
            np.save(path, model(x).numpy())
    return np.load(path) if in_child(work) else None


def kite_output(kite, model, x_path, threads, directory, extra=()):
    for f in os.listdir(directory):
        if f.endswith(".npy") and f != "x.npy":
            os.remove(os.path.join(directory, f))
    r = subprocess.run([kite, "run", model, "--input", f"input={x_path}", "--output-dir", directory,
                        "--threads", str(threads), *extra], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1][:300] if r.stderr.strip() else f"exit {r.returncode}"
    outs = [f for f in os.listdir(directory) if f.endswith(".npy") and f != "x.npy"]
    if len(outs) != 1:
        return None, f"outputs written: {outs}"
    return np.load(os.path.join(directory, outs[0])), None


def check(kite, path, x, reference):
    """The worst relative error of Kite's outputs (1 and 2 threads, .onnx and .kite), or an error."""
    directory = os.path.dirname(path)
    x_path = os.path.join(directory, "x.npy")
    np.save(x_path, x)
    scale = max(1.0, float(np.abs(reference).max()))
    worst = 0.0
    for threads in (1, 2):
        k, err = kite_output(kite, path, x_path, threads, directory)
        if err:
            return None, err
        if k.shape != reference.shape:
            return None, f"shape {k.shape}, onnxruntime {reference.shape}"
        worst = max(worst, float(np.abs(k.astype(np.float32) - reference).max()) / scale)
    shape = "x".join(map(str, x.shape))
    r = subprocess.run([kite, "convert", path, "-o", path.replace(".onnx", ".kite"), "--shape", f"input={shape}"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "convert: " + r.stderr.strip()[:300]
    k, err = kite_output(kite, path.replace(".onnx", ".kite"), x_path, 2, directory)
    if err:
        return None, ".kite: " + err
    return max(worst, float(np.abs(k.astype(np.float32) - reference).max()) / scale), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kite", default=".build/release/kite")
    parser.add_argument("--out", default="/tmp/kite-torch-exports")
    parser.add_argument("--nets", default="")
    parser.add_argument("--quick", action="store_true", help="fewer opsets (about a third of the files)")
    args = parser.parse_args()
    import onnxruntime as ort
    import torch
    # One thread: an OpenMP team started in the parent (model.half() copies large tensors in
    # parallel) deadlocks every child forked after it.
    torch.set_num_threads(1)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_nets import NETS, make

    kite = os.path.abspath(args.kite)
    chosen = [n for n in NETS if not args.nets or n in args.nets.split(",")]
    counts = {"ok": 0, "bad": 0, "kite error": 0, "exporter failed": 0, "onnxruntime failed": 0}
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}", flush=True)
    for name in chosen:
        model, res = make(name)
        x = torch.randn(1, 3, res, res, generator=torch.Generator().manual_seed(1))
        os.makedirs(args.out, exist_ok=True)
        float_output = forward(torch, model, x, os.path.join(args.out, f"{name}_float32_output.npy"))
        runs = [(v, kw, model, x) for v, kw in variants(torch, args.quick)]
        if float_output is not None:  # float16 files are judged against the float32 model
            half = make(name)[0].half()
            runs += [("half_ts13", dict(dynamo=False, opset_version=13), half, x.half()),
                     ("half_dy18", dict(dynamo=True, opset_version=18), half, x.half())]
        for variant, kw, m, inp in runs:
            directory = os.path.join(args.out, f"{name}_{variant}")
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, "model.onnx")
            if not export(torch, m, inp, path, kw):
                counts["exporter failed"] += 1
                print(f"{name:14s} {variant:12s} exporter failed (PyTorch's own error above)", flush=True)
                continue
            try:
                session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                ort_output = session.run(None, {session.get_inputs()[0].name: inp.numpy()})[0].astype(np.float32)
            except Exception as e:  # noqa: BLE001
                counts["onnxruntime failed"] += 1
                print(f"{name:14s} {variant:12s} onnxruntime cannot run it: {str(e)[:150]}", flush=True)
                continue
            is_half = variant.startswith("half")
            error, message = check(kite, path, inp.numpy(), float_output if is_half else ort_output)
            if message:
                counts["kite error"] += 1
                print(f"{name:14s} {variant:12s} KITE ERROR {message}", flush=True)
                continue
            if is_half:
                ort_error = float(np.abs(ort_output - float_output).max()) / max(1.0, float(np.abs(float_output).max()))
                good = error <= max(2 * ort_error, 1e-4)
                detail = f"vs float32 model {error:.1e} (onnxruntime {ort_error:.1e})"
            else:
                good = error <= 1e-4
                detail = f"rel {error:.1e}"
            counts["ok" if good else "bad"] += 1
            print(f"{name:14s} {variant:12s} {detail} {'OK' if good else 'BAD'}", flush=True)
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["bad"] or counts["kite error"] else 0


if __name__ == "__main__":
    sys.exit(main())
