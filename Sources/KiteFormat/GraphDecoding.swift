import CProtobuf
import KiteCore

/// protobuf-c structures -> native graph, checking every size against its shape.
struct Decoder {
    let file: String

    func graph(_ g: Kite__Graph) throws -> NativeGraph {
        let inputs = values(g.n_inputs, g.inputs)
        let outputs = values(g.n_outputs, g.outputs)
        var shapes: [String: [Int]] = [:]
        let declared = values(g.n_values, g.values)
        for v in inputs + outputs + declared where checkedElementCount(v.shape) == nil {
            throw KiteError.invalidTensor(ErrorContext(file: file, tensor: v.name),
                                          "shape \(v.shape) has a negative dimension or more than 2^40 elements")
        }
        for v in declared { shapes[v.name] = v.shape }
        for v in inputs { shapes[v.name] = v.shape }
        var types: [String: ElementType] = [:]
        for list in [(g.n_values, g.values), (g.n_inputs, g.inputs), (g.n_outputs, g.outputs)] {
            for i in 0..<list.0 {
                guard let v = list.1?[i]?.pointee, v.has_element_type != 0 else { continue }
                guard let type = ElementType(rawValue: v.element_type), type.isFloatingPoint || type.isInteger else {
                    throw KiteError.malformed(ErrorContext(file: file, tensor: cString(v.name)), "unknown element type \(v.element_type)")
                }
                types[cString(v.name)] = type
            }
        }
        var nodes: [NativeNode] = []
        for i in 0..<g.n_nodes {
            guard let n = g.nodes[i] else { continue }
            nodes.append(try node(n.pointee, index: i))
        }
        return NativeGraph(inputs: inputs, outputs: outputs, nodes: nodes, shapes: shapes, elementTypes: types)
    }

    func values(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Kite__Value>?>?) -> [ValueInfo] {
        (0..<count).compactMap { i in
            list?[i].map { ValueInfo(name: cString($0.pointee.name), shape: ints($0.pointee.n_shape, $0.pointee.shape)) }
        }
    }

    func ints(_ n: Int, _ p: UnsafeMutablePointer<Int64>?) -> [Int] {
        guard n > 0, let p else { return [] }
        return (0..<n).map { Int(truncatingIfNeeded: p[$0]) }
    }

    func strings(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
        (0..<n).map { cString(p?[$0]) }
    }

    func weights(_ w: UnsafeMutablePointer<Kite__Weights>?, _ ctx: ErrorContext, _ what: String) throws -> Tensor {
        guard let w else { throw KiteError.malformed(ctx, "\(what) is missing") }
        let shape = ints(w.pointee.n_shape, w.pointee.shape)
        guard let count = checkedElementCount(shape) else {
            throw KiteError.invalidTensor(ctx, "\(what) has an invalid shape \(shape): a negative dimension or more than 2^40 elements")
        }
        func bytes(_ b: ProtobufCBinaryData, width: Int) throws -> UnsafeRawBufferPointer {
            // checkedElementCount bounds `count`; the product is checked anyway, the shape being file data.
            let (needed, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow, b.len == needed else {
                throw KiteError.invalidTensor(ctx, "\(what) has \(b.len) bytes but shape \(shape) needs \(overflow ? "more than Int.max" : String(needed))")
            }
            return UnsafeRawBufferPointer(start: b.data, count: b.len)
        }
        if w.pointee.has_i64 != 0 {
            let raw = try bytes(w.pointee.i64, width: 8)
            return Tensor(shape: shape, ints: littleEndianValues(raw, count: count, as: Int64.self) { Int64(littleEndian: $0) })
        }
        if w.pointee.has_f16 != 0 {
            let raw = try bytes(w.pointee.f16, width: 2)
            return Tensor(shape: shape, floats: (0..<count).map { halfBitsToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) })
        }
        let raw = try bytes(w.pointee.f32, width: 4)
        return Tensor(shape: shape, floats: littleEndianValues(raw, count: count, as: UInt32.self) { Float(bitPattern: UInt32(littleEndian: $0)) })
    }

    func vector(_ w: UnsafeMutablePointer<Kite__Weights>?, _ ctx: ErrorContext, _ what: String) throws -> [Float]? {
        guard w != nil else { return nil }
        return try weights(w, ctx, what).floats
    }

    func activation(_ a: UnsafeMutablePointer<Kite__Activation>?, _ ctx: ErrorContext) throws -> Activation? {
        guard let a, a.pointee.has_kind != 0 else { return nil }
        let alpha = a.pointee.alpha
        let beta = a.pointee.beta
        switch a.pointee.kind.rawValue {
        case 0: return nil
        case 1: return .relu
        case 2: return .clip(min: alpha, max: beta)
        case 3: return .leakyRelu(alpha: alpha)
        case 4: return .sigmoid
        case 5: return .hardSigmoid(alpha: alpha, beta: beta)
        case 6: return .hardSwish
        default: throw KiteError.malformed(ctx, "unknown activation kind \(a.pointee.kind.rawValue)")
        }
    }

    func node(_ n: Kite__Node, index: Int) throws -> NativeNode {
        let name = cString(n.name)
        let ctx = ErrorContext(file: file, node: name.isEmpty ? "#\(index)" : name)
        func need<T>(_ p: UnsafeMutablePointer<T>?, _ what: String) throws -> T {
            guard let p else { throw KiteError.malformed(ctx, "\(what) parameters are missing") }
            return p.pointee
        }
        let axis = Int(truncatingIfNeeded: n.axis)
        let op: Op
        switch n.type.rawValue {
        case 1:
            let c = try need(n.conv, "convolution")
            op = .conv(Convolution(weight: try weights(c.weight, ctx, "weight"), bias: try vector(c.bias, ctx, "bias"),
                                   groups: Int(truncatingIfNeeded: c.groups), strides: ints(c.n_strides, c.strides),
                                   pads: ints(c.n_pads, c.pads), dilations: ints(c.n_dilations, c.dilations),
                                   activation: try activation(c.activation, ctx), residual: c.residual != 0))
        case 2:
            let s = try need(n.scale_shift, "scale-shift")
            op = .scaleShift(ScaleShift(scale: try vector(s.scale, ctx, "scale") ?? [], shift: try vector(s.shift, ctx, "shift") ?? [],
                                        activation: try activation(s.activation, ctx)))
        case 3:
            guard let a = try activation(n.activation, ctx) else { throw KiteError.malformed(ctx, "activation is missing") }
            op = .activation(ActivationOp(a))
        case 4:
            let b = try need(n.binary, "binary")
            let kinds: [Binary.Kind] = [.add, .sub, .mul, .div]
            guard Int(b.kind.rawValue) < kinds.count else { throw KiteError.malformed(ctx, "unknown binary kind \(b.kind.rawValue)") }
            op = .binary(Binary(kind: kinds[Int(b.kind.rawValue)], constant: b.constant == nil ? nil : try weights(b.constant, ctx, "constant"),
                                constantOnLeft: b.constant_on_left != 0, activation: try activation(b.activation, ctx)))
        case 5: op = .concat(Concat(axis: axis))
        case 6: op = .split(Split(axis: axis, sizes: ints(n.n_ints, n.ints)))
        case 7: op = .channelShuffle(ChannelShuffle(groups: axis))
        case 8:
            let shape = ints(n.n_ints2, n.ints2)
            op = .gather(Gather(axis: axis, indices: ints(n.n_ints, n.ints), indicesShape: n.flag != 0 ? [] : shape))
        case 9:
            let p = try need(n.pool, "pooling")
            op = .pool(Pooling(kind: p.max != 0 ? .max : .average, kernel: ints(p.n_kernel, p.kernel), strides: ints(p.n_strides, p.strides),
                               pads: ints(p.n_pads, p.pads), dilations: ints(p.n_dilations, p.dilations),
                               ceilMode: p.ceil_mode != 0, countIncludePad: p.count_include_pad != 0,
                               withIndices: p.with_indices != 0, columnMajorIndices: p.column_major_indices != 0))
        case 10: op = .globalPool(GlobalPooling(kind: .average))
        case 11: op = .globalPool(GlobalPooling(kind: .max))
        case 12:
            let f = try need(n.fully_connected, "fully-connected")
            op = .fullyConnected(FullyConnected(weight: try weights(f.weight, ctx, "weight"), bias: try vector(f.bias, ctx, "bias"),
                                                activation: try activation(f.activation, ctx)))
        case 13: op = .reshape(Reshape(shape: ints(n.n_ints, n.ints)))
        case 14: op = .transpose(Transpose(perm: ints(n.n_ints, n.ints)))
        case 15: op = .softmax(Softmax(axis: axis))
        case 16:
            guard PadMode.allCases.indices.contains(axis) else { throw KiteError.malformed(ctx, "unknown pad mode \(axis)") }
            op = .pad(Pad(pads: ints(n.n_ints, n.ints), value: n.value, mode: PadMode.allCases[axis]))
        case 17: op = .reduceMean(ReduceMean(axes: ints(n.n_ints, n.ints), keepDims: n.flag != 0))
        case 18: op = .slice(Slice(starts: ints(n.n_ints, n.ints), ends: ints(n.n_ints2, n.ints2), steps: ints(n.n_ints3, n.ints3)))
        case 19: op = .constant(Constant(try weights(n.constant, ctx, "constant")))
        case 20:
            guard let to = Int32(exactly: axis).flatMap(ElementType.init(rawValue:)), to.isFloatingPoint || to.isInteger else {
                throw KiteError.malformed(ctx, "unknown cast target type \(axis)")
            }
            let r = ints(n.n_ints, n.ints).first ?? 0
            guard E8M0Rounding.allCases.indices.contains(r) else { throw KiteError.malformed(ctx, "unknown rounding \(r)") }
            op = .cast(Cast(to: to, saturate: n.flag != 0, rounding: E8M0Rounding.allCases[r]))
        case 21:
            guard ElementwiseBinary.Kind.allCases.indices.contains(axis) else { throw KiteError.malformed(ctx, "unknown element-wise kind \(axis)") }
            op = .elementwiseBinary(ElementwiseBinary(ElementwiseBinary.Kind.allCases[axis]))
        case 22: op = .whereSelect(Where())
        case 23:
            guard Unary.Kind.allCases.indices.contains(axis) else { throw KiteError.malformed(ctx, "unknown unary kind \(axis)") }
            op = .unary(Unary(Unary.Kind.allCases[axis]))
        case 24:
            guard Reduce.Kind.allCases.indices.contains(axis) else { throw KiteError.malformed(ctx, "unknown reduction kind \(axis)") }
            op = .reduce(Reduce(kind: Reduce.Kind.allCases[axis], axes: ints(n.n_ints, n.ints), keepDims: n.flag != 0))
        case 25: op = .matMul(MatMul())
        case 26:
            let p = ints(n.n_ints, n.ints)
            guard p.count == 2, let seed = UInt32(exactly: p[0]) else { throw KiteError.malformed(ctx, "dropout parameters \(p) are invalid") }
            op = .dropout(Dropout(ratio: n.value, training: n.flag != 0, seed: seed, withMask: p[1] != 0))
        default:
            throw KiteError.malformed(ctx, "unknown op type \(n.type.rawValue) (written by a newer Kite?)")
        }
        return NativeNode(name: name, op: op, inputs: strings(n.n_inputs, n.inputs), outputs: strings(n.n_outputs, n.outputs),
                          origin: strings(n.n_origin, n.origin), passes: strings(n.n_passes, n.passes))
    }
}
