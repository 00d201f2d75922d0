import CProtobuf
import Foundation
import KiteCore

/// Reads ONNX files into `ONNXModel` values through protobuf-c.
///
/// The C message is freed as soon as it has been converted; every failure is
/// a `KiteError` naming the file and, where there is one, the tensor or node.
public enum ONNXLoader {
    /// Loads the model at `path`.
    public static func load(path: String) throws -> ONNXModel {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        // protobuf-c copies what it keeps, so the file's bytes are released (when `unpack`
        // returns) before the model is built: two copies of the weights at most, not three.
        let proto = try unpack(path: path)
        defer { onnx__model_proto__free_unpacked(proto, nil) }
        let decoder = Decoder(file: path, folder: folder)
        return try decoder.model(proto.pointee)
    }

    /// Reads and unpacks the file; only protobuf-c's message outlives the call.
    static func unpack(path: String) throws -> UnsafeMutablePointer<Onnx__ModelProto> {
        let ctx = ErrorContext(file: path)
        let data = try readModelFile(path)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
                throw KiteError.malformed(ctx, "file is empty")
            }
            try NestingCheck.check(UnsafeBufferPointer(start: base, count: raw.count), file: path)
            guard let proto = onnx__model_proto__unpack(nil, raw.count, base) else {
                throw KiteError.malformed(ctx, "not a valid ONNX model: the protobuf data is corrupt or truncated")
            }
            return proto
        }
    }

    /// Reads a file's bytes, mapped when possible, with one-line errors for the usual mistakes.
    static func readModelFile(_ path: String) throws -> Data {
        let data = try FileAccess.read(path)
        if data.isEmpty { throw KiteError.malformed(ErrorContext(file: path), "file is empty") }
        return data
    }
}

/// Converts protobuf-c structures into Swift values.
struct Decoder {
    let file: String
    let folder: String
    /// Counts the external data read (the model's size includes it).
    final class ExternalDataTally { var bytes = 0 }
    let externalData = ExternalDataTally()

    func model(_ m: Onnx__ModelProto) throws -> ONNXModel {
        guard let g = m.graph else {
            throw KiteError.malformed(ErrorContext(file: file), "model has no graph")
        }
        var model = ONNXModel(
            path: file,
            irVersion: m.ir_version,
            opsetImports: opsetImports(m.n_opset_import, m.opset_import),
            producerName: string(m.producer_name),
            producerVersion: string(m.producer_version),
            domain: string(m.domain),
            modelVersion: m.model_version,
            docString: string(m.doc_string),
            metadata: entries(m.n_metadata_props, m.metadata_props).map { (key: $0.0, value: $0.1) },
            graph: try graph(g.pointee),
            functions: try (0..<m.n_functions).compactMap { i in try m.functions[i].map { try function($0.pointee) } }
        )
        model.externalDataBytes = externalData.bytes
        return model
    }

    func function(_ f: Onnx__FunctionProto) throws -> ONNXFunction {
        let name = string(f.name)
        var nodes: [ONNXNode] = []
        for i in 0..<f.n_node {
            guard let n = f.node[i] else { continue }
            do {
                nodes.append(try node(n.pointee, index: i))
            } catch let e as KiteError {
                throw e.adding(ErrorContext(file: file, function: name))
            }
        }
        let defaults = try attributes(f.n_attribute_proto, f.attribute_proto, context: ErrorContext(file: file, function: name)).values
        return ONNXFunction(name: name, domain: string(f.domain), overload: string(f.overload),
                            inputs: strings(f.n_input, f.input), outputs: strings(f.n_output, f.output),
                            attributeNames: strings(f.n_attribute, f.attribute) + Array(defaults.keys),
                            attributeDefaults: defaults, nodes: nodes, opsetImports: opsetImports(f.n_opset_import, f.opset_import))
    }

    func graph(_ g: Onnx__GraphProto) throws -> ONNXGraph {
        var nodes: [ONNXNode] = []
        nodes.reserveCapacity(g.n_node)
        for i in 0..<g.n_node {
            guard let n = g.node[i] else { continue }
            nodes.append(try node(n.pointee, index: i))
        }
        var initializers: [(name: String, tensor: Tensor)] = []
        initializers.reserveCapacity(g.n_initializer)
        for i in 0..<g.n_initializer {
            guard let t = g.initializer[i] else { continue }
            let name = string(t.pointee.name)
            initializers.append((name: name, tensor: try tensor(t.pointee)))
        }
        let inputs = try valueInfos(g.n_input, g.input, requireKnownType: true)
        var inputNames = Set<String>()
        for input in inputs where !inputNames.insert(input.name).inserted {
            throw KiteError.malformed(ErrorContext(file: file, tensor: input.name), "the graph declares this input more than once")
        }
        return ONNXGraph(
            name: string(g.name),
            nodes: nodes,
            initializers: initializers,
            inputs: inputs,
            outputs: try valueInfos(g.n_output, g.output),
            valueInfo: try valueInfos(g.n_value_info, g.value_info)
        )
    }

    func node(_ n: Onnx__NodeProto, index: Int) throws -> ONNXNode {
        let name = string(n.name)
        let opType = string(n.op_type)
        let domain = string(n.domain)
        let displayName = name.isEmpty ? "#\(index) \(opType)" : name
        let (attributes, order) = try self.attributes(n.n_attribute, n.attribute,
                                                      context: ErrorContext(file: file, node: displayName, opType: opType, domain: domain))
        return ONNXNode(
            name: name,
            opType: opType,
            domain: domain,
            inputs: strings(n.n_input, n.input),
            outputs: strings(n.n_output, n.output),
            attributes: attributes,
            attributeOrder: order,
            overload: string(n.overload)
        )
    }

    /// Attributes by name, and their names in file order; a bad one throws with `context` and its name.
    func attributes(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__AttributeProto>?>?,
                    context: ErrorContext) throws -> (values: [String: ONNXAttribute], order: [String]) {
        var values: [String: ONNXAttribute] = [:]
        var order: [String] = []
        for i in 0..<count {
            guard let a = list?[i] else { continue }
            let name = string(a.pointee.name)
            do {
                values[name] = try attribute(a.pointee)
            } catch let e as KiteError {
                var c = context
                c.attribute = name
                throw e.adding(c)
            }
            order.append(name)
        }
        return (values, order)
    }

    func opsetImports(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__OperatorSetIdProto>?>?) -> [(domain: String, version: Int)] {
        (0..<count).compactMap { i in
            list?[i].map { (domain: string($0.pointee.domain), version: Int($0.pointee.version)) }
        }
    }

    func attribute(_ a: Onnx__AttributeProto) throws -> ONNXAttribute {
        // In a function body an attribute may stand for one of the caller's.
        let reference = string(a.ref_attr_name)
        if !reference.isEmpty { return .reference(reference) }
        // Files from old writers may omit `type`; infer it from the field that is set.
        var kind = a.has_type != 0 ? Int(a.type.rawValue) : 0
        if kind == 0 {
            if a.n_floats > 0 { kind = 6 } else if a.n_ints > 0 { kind = 7 } else if a.n_strings > 0 { kind = 8 }
            else if a.n_tensors > 0 { kind = 9 } else if a.n_graphs > 0 { kind = 10 } else if a.t != nil { kind = 4 }
            else if a.g != nil { kind = 5 } else if a.has_s != 0 { kind = 3 } else if a.has_i != 0 { kind = 2 } else if a.has_f != 0 { kind = 1 }
        }
        switch kind {
        case 1: return .float(a.f)
        case 2: return .int(a.i)
        case 3: return .string(bytesString(a.s))
        case 4:
            guard let t = a.t else { throw KiteError.malformed(ErrorContext(file: file), "tensor attribute has no tensor") }
            return .tensor(try tensor(t.pointee))
        case 5:
            guard let g = a.g else { throw KiteError.malformed(ErrorContext(file: file), "graph attribute has no graph") }
            return .graph(try graph(g.pointee))
        case 6: return .floats(a.n_floats == 0 ? [] : Array(UnsafeBufferPointer(start: a.floats, count: a.n_floats)))
        case 7: return .ints(a.n_ints == 0 ? [] : Array(UnsafeBufferPointer(start: a.ints, count: a.n_ints)))
        case 8: return .strings((0..<a.n_strings).map { bytesString(a.strings[$0]) })
        case 9:
            return .tensors(try (0..<a.n_tensors).compactMap { i in try a.tensors[i].map { try tensor($0.pointee) } })
        case 10:
            return .graphs(try (0..<a.n_graphs).compactMap { i in try a.graphs[i].map { try graph($0.pointee) } })
        case 11, 12: return .other(kind: "sparse_tensor")
        case 13, 14: return .other(kind: "type_proto")
        default: return .other(kind: "undefined")
        }
    }

    /// `requireKnownType` (graph inputs): a declared tensor type must name a real element type, as
    /// onnxruntime requires; elsewhere an unknown type is only a missing hint.
    func valueInfos(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__ValueInfoProto>?>?,
                    requireKnownType: Bool = false) throws -> [ONNXValueInfo] {
        var result: [ONNXValueInfo] = []
        for i in 0..<count {
            guard let v = list?[i] else { continue }
            if requireKnownType, let type = v.pointee.type, type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
               let tt = type.pointee.tensor_type {
                let raw = tt.pointee.elem_type
                guard raw != 0, ElementType(rawValue: raw) != nil else {
                    throw KiteError.malformed(ErrorContext(file: file, tensor: string(v.pointee.name)),
                                              "graph input has element type \(raw), which is \(raw == 0 ? "UNDEFINED" : "not an ONNX type")")
                }
            }
            result.append(valueInfo(v.pointee))
        }
        return result
    }

    func valueInfo(_ v: Onnx__ValueInfoProto) -> ONNXValueInfo {
        let name = string(v.name)
        guard let type = v.type,
              type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
              let tt = type.pointee.tensor_type else {
            let kind: ONNXValueInfo.Kind
            switch v.type?.pointee.value_case {
            case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: kind = .sequence
            case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: kind = .map
            case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: kind = .optional
            case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: kind = .sparseTensor
            case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: kind = .tensor
            default: kind = .undeclared
            }
            return ONNXValueInfo(name: name, elementType: .undefined, dims: nil, kind: kind)
        }
        let elem = ElementType(rawValue: tt.pointee.elem_type) ?? .undefined
        guard let shape = tt.pointee.shape else {
            return ONNXValueInfo(name: name, elementType: elem, dims: nil)
        }
        var dims: [ONNXDim] = []
        for i in 0..<shape.pointee.n_dim {
            guard let d = shape.pointee.dim[i] else { dims.append(.unknown); continue }
            switch d.pointee.value_case {
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE:
                dims.append(d.pointee.dim_value >= 0 ? .value(Int(d.pointee.dim_value)) : .unknown)
            case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                let p = string(d.pointee.dim_param)
                dims.append(p.isEmpty ? .unknown : .param(p))
            default:
                dims.append(.unknown)
            }
        }
        return ONNXValueInfo(name: name, elementType: elem, dims: dims)
    }

    func tensor(_ t: Onnx__TensorProto) throws -> Tensor {
        let name = string(t.name)
        let ctx = ErrorContext(file: file, tensor: name.isEmpty ? "(unnamed)" : name)
        let dims = t.n_dims == 0 ? [] : Array(UnsafeBufferPointer(start: t.dims, count: t.n_dims))
        for d in dims where d < 0 {
            throw KiteError.invalidTensor(ctx, "negative dimension \(d) in dims \(dims)")
        }
        guard dims.allSatisfy({ $0 <= Int64(Int.max) }), let count = checkedElementCount(dims.map { Int($0) }) else {
            throw KiteError.invalidTensor(ctx, "dims \(dims) overflow the element count")
        }
        let shape = dims.map { Int($0) }
        let code = t.has_data_type != 0 ? t.data_type : 0
        guard let type = ElementType(rawValue: code), type != .undefined else {
            throw KiteError.invalidTensor(ctx, "unknown data type \(code)")
        }
        if t.has_data_location != 0 && t.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            let bytes = try externalBytes(t, ctx: ctx, expected: type.byteWidth.map { $0 * count })
            return try TensorDecoding.fromRaw(bytes, type: type, shape: shape, count: count, ctx: ctx)
        }
        if t.has_raw_data != 0 {
            let raw = UnsafeRawBufferPointer(start: t.raw_data.data, count: t.raw_data.len)
            return try TensorDecoding.fromRaw(raw, type: type, shape: shape, count: count, ctx: ctx)
        }
        return try TensorDecoding.fromTypedFields(t, type: type, shape: shape, count: count, ctx: ctx)
    }

    /// Reads a tensor's external data, refusing locations outside the model's folder.
    func externalBytes(_ t: Onnx__TensorProto, ctx: ErrorContext, expected: Int?) throws -> UnsafeRawBufferPointerOwner {
        var location: String?
        var offset = 0
        var length: Int?
        for (key, value) in entries(t.n_external_data, t.external_data) {
            switch key {
            case "location": location = value
            case "offset":
                guard let v = Int(value), v >= 0 else { throw KiteError.invalidTensor(ctx, "external data offset '\(value)' is not a valid offset") }
                offset = v
            case "length":
                guard let v = Int(value), v >= 0 else { throw KiteError.invalidTensor(ctx, "external data length '\(value)' is not a valid length") }
                length = v
            default: break
            }
        }
        guard let location, !location.isEmpty else {
            throw KiteError.invalidTensor(ctx, "external data has no location")
        }
        let base = URL(fileURLWithPath: folder).standardizedFileURL.resolvingSymlinksInPath().path
        let target = URL(fileURLWithPath: location, relativeTo: URL(fileURLWithPath: base + "/"))
            .standardizedFileURL.resolvingSymlinksInPath().path
        guard !location.hasPrefix("/"), target.hasPrefix(base.hasSuffix("/") ? base : base + "/") else {
            throw KiteError.invalidTensor(ctx, "external data location '\(location)' is outside the model's folder")
        }
        guard let handle = FileHandle(forReadingAtPath: target) else {
            throw KiteError.invalidTensor(ctx, "external data file '\(location)' is missing")
        }
        defer { try? handle.close() }
        let fileSize = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        // Without a length the tensor's own size is what must be there.
        let needed = length ?? expected ?? (fileSize - offset)
        guard offset <= fileSize, needed >= 0, offset + needed <= fileSize else {
            throw KiteError.invalidTensor(ctx, "external data file '\(location)' is too short (\(fileSize) bytes, need \(offset + max(needed, 0)))")
        }
        do {
            try handle.seek(toOffset: UInt64(offset))
            let data = try handle.read(upToCount: needed) ?? Data()
            guard data.count == needed else {
                throw KiteError.invalidTensor(ctx, "external data file '\(location)' is too short")
            }
            externalData.bytes += needed
            return UnsafeRawBufferPointerOwner(data)
        } catch let e as KiteError {
            throw e
        } catch {
            throw KiteError.invalidTensor(ctx, "cannot read external data file '\(location)': \(error.localizedDescription)")
        }
    }

    func string(_ p: UnsafeMutablePointer<CChar>?) -> String {
        guard let p else { return "" }
        return String(cString: p)
    }

    func bytesString(_ b: ProtobufCBinaryData) -> String {
        guard b.len > 0, let d = b.data else { return "" }
        return String(decoding: UnsafeBufferPointer(start: d, count: b.len), as: UTF8.self)
    }

    func strings(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
        (0..<count).map { string(list?[$0]) }
    }

    func entries(_ count: Int, _ list: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?) -> [(String, String)] {
        (0..<count).compactMap { i in list?[i].map { (string($0.pointee.key), string($0.pointee.value)) } }
    }
}

/// Owns bytes read from an external data file while they are decoded.
struct UnsafeRawBufferPointerOwner {
    let data: Data
    init(_ data: Data) { self.data = data }
}

extension ONNXLoader {
    /// Loads one serialized TensorProto (the ONNX test-data layout's input_N.pb / output_N.pb).
    public static func loadTensor(path: String) throws -> (name: String, tensor: Tensor) {
        let ctx = ErrorContext(file: path)
        let data = try readModelFile(path)
        let url = URL(fileURLWithPath: path)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self),
                  let proto = onnx__tensor_proto__unpack(nil, raw.count, base) else {
                throw KiteError.malformed(ctx, "not a valid TensorProto")
            }
            defer { onnx__tensor_proto__free_unpacked(proto, nil) }
            let decoder = Decoder(file: path, folder: url.deletingLastPathComponent().path)
            let name = decoder.string(proto.pointee.name)
            return (name: name, tensor: try decoder.tensor(proto.pointee))
        }
    }
}
