import CProtobuf
import KiteCore

/// Native graph -> protobuf-c structures (memory owned by the arena).
struct Encoder {
    let arena: CArena
    let fp16: Bool

    func graph(_ g: NativeGraph) -> UnsafeMutablePointer<Kite__Graph> {
        let p = arena.alloc(Kite__Graph.self)
        kite__graph__init(p)
        (p.pointee.n_inputs, p.pointee.inputs) = values(g.inputs, g.elementTypes)
        (p.pointee.n_outputs, p.pointee.outputs) = values(g.outputs, g.elementTypes)
        let list = arena.alloc(UnsafeMutablePointer<Kite__Node>?.self, count: g.nodes.count)
        for (i, n) in g.nodes.enumerated() { list[i] = node(n) }
        p.pointee.n_nodes = g.nodes.count
        p.pointee.nodes = list
        // Shapes in node order so the bytes do not depend on dictionary order.
        var ordered: [ValueInfo] = []
        var seen = Set<String>()
        for name in g.inputs.map(\.name) + g.nodes.flatMap(\.outputs) where seen.insert(name).inserted {
            if let s = g.shapes[name] { ordered.append(ValueInfo(name: name, shape: s)) }
        }
        (p.pointee.n_values, p.pointee.values) = values(ordered, g.elementTypes)
        return p
    }

    func values(_ list: [ValueInfo], _ types: [String: ElementType]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<Kite__Value>?>?) {
        guard !list.isEmpty else { return (0, nil) }
        let arr = arena.alloc(UnsafeMutablePointer<Kite__Value>?.self, count: list.count)
        for (i, v) in list.enumerated() {
            let p = arena.alloc(Kite__Value.self)
            kite__value__init(p)
            p.pointee.name = arena.string(v.name)
            (p.pointee.n_shape, p.pointee.shape) = arena.int64s(v.shape)
            if let type = types[v.name], type != .float {
                p.pointee.has_element_type = 1
                p.pointee.element_type = type.rawValue
            }
            arr[i] = p
        }
        return (list.count, arr)
    }

    func weights(_ t: Tensor) -> UnsafeMutablePointer<Kite__Weights> {
        let p = arena.alloc(Kite__Weights.self)
        kite__weights__init(p)
        (p.pointee.n_shape, p.pointee.shape) = arena.int64s(t.shape)
        var bytes: [UInt8] = []
        if case .ints(let v) = t.storage {
            bytes.reserveCapacity(v.count * 8)
            for x in v { withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) } }
            p.pointee.has_i64 = 1
            (p.pointee.i64.len, p.pointee.i64.data) = arena.bytes(bytes)
        } else if fp16 {
            for x in t.floats { withUnsafeBytes(of: floatToHalfBits(x).littleEndian) { bytes.append(contentsOf: $0) } }
            p.pointee.has_f16 = 1
            (p.pointee.f16.len, p.pointee.f16.data) = arena.bytes(bytes)
        } else {
            let v = t.floats
            bytes.reserveCapacity(v.count * 4)
            for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
            p.pointee.has_f32 = 1
            (p.pointee.f32.len, p.pointee.f32.data) = arena.bytes(bytes)
        }
        return p
    }

    func vector(_ v: [Float]?) -> UnsafeMutablePointer<Kite__Weights>? {
        v.map { weights(Tensor(shape: [$0.count], floats: $0)) }
    }

    func activation(_ a: Activation?) -> UnsafeMutablePointer<Kite__Activation>? {
        guard let a else { return nil }
        let p = arena.alloc(Kite__Activation.self)
        kite__activation__init(p)
        p.pointee.has_kind = 1
        var kind: UInt32 = 0
        var alpha: Float?
        var beta: Float?
        switch a {
        case .relu: kind = 1
        case .clip(let lo, let hi): kind = 2; alpha = lo; beta = hi
        case .leakyRelu(let al): kind = 3; alpha = al
        case .sigmoid: kind = 4
        case .hardSigmoid(let al, let b): kind = 5; alpha = al; beta = b
        case .hardSwish: kind = 6
        }
        p.pointee.kind = Kite__Activation__Kind(rawValue: kind)
        if let alpha { p.pointee.has_alpha = 1; p.pointee.alpha = alpha }
        if let beta { p.pointee.has_beta = 1; p.pointee.beta = beta }
        return p
    }

    func node(_ n: NativeNode) -> UnsafeMutablePointer<Kite__Node> {
        let p = arena.alloc(Kite__Node.self)
        kite__node__init(p)
        p.pointee.name = arena.string(n.name)
        (p.pointee.n_inputs, p.pointee.inputs) = arena.strings(n.inputs)
        (p.pointee.n_outputs, p.pointee.outputs) = arena.strings(n.outputs)
        (p.pointee.n_origin, p.pointee.origin) = arena.strings(n.origin)
        (p.pointee.n_passes, p.pointee.passes) = arena.strings(n.passes)
        func setType(_ t: UInt32) {
            p.pointee.has_type = 1
            p.pointee.type = Kite__Node__Type(rawValue: t)
        }
        func setAxis(_ a: Int) {
            p.pointee.has_axis = 1
            p.pointee.axis = Int64(a)
        }
        switch n.op {
        case .conv(let c):
            setType(1)
            let cp = arena.alloc(Kite__Conv.self)
            kite__conv__init(cp)
            cp.pointee.weight = weights(c.weight)
            cp.pointee.bias = vector(c.bias)
            cp.pointee.has_groups = 1
            cp.pointee.groups = Int64(c.groups)
            (cp.pointee.n_strides, cp.pointee.strides) = arena.int64s(c.strides)
            (cp.pointee.n_pads, cp.pointee.pads) = arena.int64s(c.pads)
            (cp.pointee.n_dilations, cp.pointee.dilations) = arena.int64s(c.dilations)
            cp.pointee.activation = activation(c.activation)
            if c.residual { cp.pointee.has_residual = 1; cp.pointee.residual = 1 }
            p.pointee.conv = cp
        case .scaleShift(let s):
            setType(2)
            let sp = arena.alloc(Kite__ScaleShift.self)
            kite__scale_shift__init(sp)
            sp.pointee.scale = vector(s.scale)
            sp.pointee.shift = vector(s.shift)
            sp.pointee.activation = activation(s.activation)
            p.pointee.scale_shift = sp
        case .activation(let a):
            setType(3)
            p.pointee.activation = activation(a.activation)
        case .binary(let b):
            setType(4)
            let bp = arena.alloc(Kite__Binary.self)
            kite__binary__init(bp)
            bp.pointee.has_kind = 1
            let kinds: [Binary.Kind: UInt32] = [.add: 0, .sub: 1, .mul: 2, .div: 3]
            bp.pointee.kind = Kite__Binary__Kind(rawValue: kinds[b.kind] ?? 0)
            bp.pointee.constant = b.constant.map(weights)
            if b.constantOnLeft { bp.pointee.has_constant_on_left = 1; bp.pointee.constant_on_left = 1 }
            bp.pointee.activation = activation(b.activation)
            p.pointee.binary = bp
        case .concat(let c):
            setType(5)
            setAxis(c.axis)
        case .split(let s):
            setType(6)
            setAxis(s.axis)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(s.sizes)
        case .channelShuffle(let s):
            setType(7)
            setAxis(s.groups)
        case .gather(let g):
            setType(8)
            setAxis(g.axis)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(g.indices)
            (p.pointee.n_ints2, p.pointee.ints2) = arena.int64s(g.indicesShape)
            // A scalar index has an empty indices shape; flag tells it from a 1-D one.
            p.pointee.has_flag = 1
            p.pointee.flag = g.indicesShape.isEmpty ? 1 : 0
        case .pool(let pl):
            setType(9)
            let pp = arena.alloc(Kite__Pool.self)
            kite__pool__init(pp)
            if pl.kind == .max { pp.pointee.has_max = 1; pp.pointee.max = 1 }
            (pp.pointee.n_kernel, pp.pointee.kernel) = arena.int64s(pl.kernel)
            (pp.pointee.n_strides, pp.pointee.strides) = arena.int64s(pl.strides)
            (pp.pointee.n_pads, pp.pointee.pads) = arena.int64s(pl.pads)
            (pp.pointee.n_dilations, pp.pointee.dilations) = arena.int64s(pl.dilations)
            if pl.ceilMode { pp.pointee.has_ceil_mode = 1; pp.pointee.ceil_mode = 1 }
            if pl.countIncludePad { pp.pointee.has_count_include_pad = 1; pp.pointee.count_include_pad = 1 }
            if pl.withIndices { pp.pointee.has_with_indices = 1; pp.pointee.with_indices = 1 }
            if pl.columnMajorIndices { pp.pointee.has_column_major_indices = 1; pp.pointee.column_major_indices = 1 }
            p.pointee.pool = pp
        case .globalPool(let g):
            setType(g.kind == .max ? 11 : 10)
        case .fullyConnected(let f):
            setType(12)
            let fp = arena.alloc(Kite__FullyConnected.self)
            kite__fully_connected__init(fp)
            fp.pointee.weight = weights(f.weight)
            fp.pointee.bias = vector(f.bias)
            fp.pointee.activation = activation(f.activation)
            p.pointee.fully_connected = fp
        case .reshape(let r):
            setType(13)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(r.shape)
        case .transpose(let t):
            setType(14)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(t.perm)
        case .softmax(let s):
            setType(15)
            setAxis(s.axis)
        case .pad(let pd):
            setType(16)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(pd.pads)
            p.pointee.has_value = 1
            p.pointee.value = pd.value
            if pd.mode != .constant { setAxis(PadMode.allCases.firstIndex(of: pd.mode) ?? 0) }
        case .reduceMean(let r):
            setType(17)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(r.axes)
            p.pointee.has_flag = 1
            p.pointee.flag = r.keepDims ? 1 : 0
        case .slice(let s):
            setType(18)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(s.starts)
            (p.pointee.n_ints2, p.pointee.ints2) = arena.int64s(s.ends)
            (p.pointee.n_ints3, p.pointee.ints3) = arena.int64s(s.steps)
        case .constant(let c):
            setType(19)
            p.pointee.constant = weights(c.value)
        case .cast(let c):
            setType(20)
            setAxis(Int(c.to.rawValue))
            p.pointee.has_flag = 1
            p.pointee.flag = c.saturate ? 1 : 0
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s([E8M0Rounding.allCases.firstIndex(of: c.rounding) ?? 0])
        case .elementwiseBinary(let e):
            setType(21)
            setAxis(ElementwiseBinary.Kind.allCases.firstIndex(of: e.kind) ?? 0)
        case .whereSelect:
            setType(22)
        case .unary(let u):
            setType(23)
            setAxis(Unary.Kind.allCases.firstIndex(of: u.kind) ?? 0)
        case .reduce(let r):
            setType(24)
            setAxis(Reduce.Kind.allCases.firstIndex(of: r.kind) ?? 0)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s(r.axes)
            p.pointee.has_flag = 1
            p.pointee.flag = r.keepDims ? 1 : 0
        case .matMul:
            setType(25)
        case .dropout(let d):
            setType(26)
            (p.pointee.n_ints, p.pointee.ints) = arena.int64s([Int(d.seed), d.withMask ? 1 : 0])
            p.pointee.has_value = 1
            p.pointee.value = d.ratio
            p.pointee.has_flag = 1
            p.pointee.flag = d.training ? 1 : 0
        }
        return p
    }
}
