#!/usr/bin/env python3
"""Writes the ONNX backend node test cases of the ops Kite supports, as the ONNX repository
lays them out (onnx/backend/test/data/node):

    OUTDIR/<case>/model.onnx
    OUTDIR/<case>/test_data_set_0/input_<i>.pb    serialized TensorProto, named as the graph input
    OUTDIR/<case>/test_data_set_0/output_<i>.pb   serialized TensorProto, named as the graph output
    OUTDIR/cases.tsv                               <case>\t<op type>\t<opset>\t<types>, one case a line

<types> lists the element types of the case's graph inputs and outputs (float, int64, float16,
bfloat16, float8e4m3fn, int4, ..., or sequence/optional), so a runner can tell the cases
that need exotic types from those a float32 CPU runtime should pass.

The cases come from the installed onnx wheel (onnx.backend.test.case.node.collect_testcases),
which generates them from its own reference implementations, so no download is needed.
A case is kept when its test node's op type is in OPS; the '_expanded' variants of those
cases (the op's function body inlined into primitive nodes) are kept too.

Usage: python tools/conformance_export.py OUTDIR
"""
import os
import re
import shutil
import sys
import warnings

OPS = [
    "Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish",
    "Add", "Sub", "Mul", "Div", "Concat", "Split", "Slice", "Reshape", "Flatten", "Transpose", "Gemm",
    "MatMul", "GlobalAveragePool", "GlobalMaxPool", "AveragePool", "MaxPool", "ReduceMean", "Softmax",
    "Dropout", "Identity", "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast", "Pad",
]


def serialize(value, value_info):
    """A value of a data set as the ONNX repo's cmd_tools writes it."""
    from onnx import TensorProto, numpy_helper
    t = value_info.type
    if t.HasField("map_type"):
        return numpy_helper.from_dict(value, value_info.name).SerializeToString()
    if t.HasField("sequence_type"):
        return numpy_helper.from_list(value, value_info.name).SerializeToString()
    if t.HasField("optional_type"):
        return numpy_helper.from_optional(value, value_info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, value_info.name).SerializeToString()


def value_types(values):
    from onnx import TensorProto
    kinds = []
    for v in values:
        t = v.type
        if t.HasField("tensor_type"):
            kinds.append(TensorProto.DataType.Name(t.tensor_type.elem_type).lower())
        elif t.HasField("sequence_type"):
            kinds.append("sequence")
        elif t.HasField("optional_type"):
            kinds.append("optional")
        else:
            kinds.append("other")
    return kinds


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = argv[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own numpy overflow warnings (Cast to float8 ...)
        from onnx.backend.test.case import node
        cases = node.collect_testcases(None)

    expanded = re.compile(r"^(.*)_expanded(_ver\d+)?$")  # test_x_expanded, test_x_expanded_ver18
    base_op = {}
    for case in cases:
        if case.kind == "node" and case.model is not None and not expanded.match(case.name):
            nodes = case.model.graph.node  # a node test case is the one node under test
            base_op[case.name] = nodes[0].op_type if len(nodes) == 1 else ""

    def op_of(case):
        m = expanded.match(case.name)
        return base_op.get(m.group(1) if m else case.name, "")

    selected = sorted((c for c in cases if c.kind == "node" and c.model is not None and op_of(c) in OPS),
                      key=lambda c: c.name)
    os.makedirs(out, exist_ok=True)
    rows = []
    per_op = {op: [0, 0] for op in OPS}
    for case in selected:
        folder = os.path.join(out, case.name)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        with open(os.path.join(folder, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets or []):
            data = os.path.join(folder, f"test_data_set_{i}")
            os.makedirs(data)
            for j, value in enumerate(inputs):
                with open(os.path.join(data, f"input_{j}.pb"), "wb") as f:
                    f.write(serialize(value, case.model.graph.input[j]))
            for j, value in enumerate(outputs):
                with open(os.path.join(data, f"output_{j}.pb"), "wb") as f:
                    f.write(serialize(value, case.model.graph.output[j]))
        op = op_of(case)
        opset = max((o.version for o in case.model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        g = case.model.graph
        types = ",".join(dict.fromkeys(value_types(list(g.input) + list(g.output))))
        rows.append(f"{case.name}\t{op}\t{opset}\t{types}\n")
        per_op[op][1 if expanded.match(case.name) else 0] += 1
    with open(os.path.join(out, "cases.tsv"), "w") as f:
        f.writelines(rows)

    for op in OPS:
        plain, expanded = per_op[op]
        print(f"{op:20s} {plain:4d} cases" + (f" + {expanded} expanded" if expanded else ""))
    print(f"{len(rows)} cases written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
