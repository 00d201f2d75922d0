import CProtobuf
import Foundation
import KiteCore

/// Options for writing a `.kite` file.
public struct KiteWriteOptions: Sendable {
    /// Store weights as float16 (half the size; computed in float32 after loading).
    public var fp16Weights: Bool
    public init(fp16Weights: Bool = false) { self.fp16Weights = fp16Weights }
}

/// A native model as stored in a `.kite` file.
public struct KiteModelFile: Sendable {
    public var formatVersion: Int
    public var producer: String
    /// The file it was converted from.
    public var source: String
    public var metadata: [(key: String, value: String)]
    public var graph: NativeGraph

    public init(producer: String, source: String, metadata: [(key: String, value: String)] = [], graph: NativeGraph) {
        self.formatVersion = KiteFormat.version
        self.producer = producer
        self.source = source
        self.metadata = metadata
        self.graph = graph
    }
}

/// Encodes and decodes `.kite` files through the protobuf-c bridge (Schemas/kite.proto).
public enum KiteFormat {
    /// The format version this build writes and the newest it reads.
    public static let version = 1

    /// Serialises a model. The bytes are deterministic: the same graph gives the same file.
    public static func encode(_ model: KiteModelFile, options: KiteWriteOptions = KiteWriteOptions()) -> [UInt8] {
        let arena = CArena()
        let encoder = Encoder(arena: arena, fp16: options.fp16Weights)
        var m = Kite__Model()
        kite__model__init(&m)
        m.has_format_version = 1
        m.format_version = UInt32(model.formatVersion)
        m.producer = arena.string(model.producer)
        m.source = arena.string(model.source)
        if !model.metadata.isEmpty {
            let list = arena.alloc(UnsafeMutablePointer<Kite__Entry>?.self, count: model.metadata.count)
            for (i, e) in model.metadata.enumerated() {
                let entry = arena.alloc(Kite__Entry.self)
                kite__entry__init(entry)
                entry.pointee.key = arena.string(e.key)
                entry.pointee.value = arena.string(e.value)
                list[i] = entry
            }
            m.n_metadata = model.metadata.count
            m.metadata = list
        }
        m.graph = encoder.graph(model.graph)
        let size = kite__model__get_packed_size(&m)
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer { kite__model__pack(&m, $0.baseAddress) }
        return out
    }

    /// Writes a model to `path`.
    public static func write(_ model: KiteModelFile, to path: String, options: KiteWriteOptions = KiteWriteOptions()) throws {
        let bytes = encode(model, options: options)
        try FileAccess.write(Data(bytes), to: path)
    }

    /// Reads and checks a `.kite` file: version, weights against their shapes, every shape re-inferred.
    public static func read(path: String) throws -> KiteModelFile {
        let ctx = ErrorContext(file: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw KiteError.io(ctx, "no such file") }
        if isDirectory.boolValue { throw KiteError.io(ctx, "is a directory, not a model file") }
        // The file's bytes are released (when `unpack` returns) before the graph is built from the
        // unpacked message, so at most two copies of the weights are alive at once.
        return try decode(unpacked: unpack(path: path, ctx: ctx), file: path)
    }

    /// Reads and unpacks the file; only protobuf-c's message outlives the call.
    static func unpack(path: String, ctx: ErrorContext) throws -> UnsafeMutablePointer<Kite__Model> {
        let data = try FileAccess.read(path)
        if data.isEmpty { throw KiteError.malformed(ctx, "file is empty") }
        let parsed = data.withUnsafeBytes { raw in
            kite__model__unpack(nil, raw.count, raw.baseAddress?.assumingMemoryBound(to: UInt8.self))
        }
        guard let parsed else { throw KiteError.malformed(ctx, "not a valid .kite file: the data is corrupt or truncated") }
        return parsed
    }

    /// Decodes bytes of a `.kite` file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws -> KiteModelFile {
        let ctx = ErrorContext(file: file)
        let parsed = bytes.withUnsafeBufferPointer { kite__model__unpack(nil, $0.count, $0.baseAddress) }
        guard let parsed else {
            throw KiteError.malformed(ctx, "not a valid .kite file: the data is corrupt or truncated")
        }
        return try decode(unpacked: parsed, file: file)
    }

    /// Builds the model from an unpacked message, which it frees.
    static func decode(unpacked parsed: UnsafeMutablePointer<Kite__Model>, file: String) throws -> KiteModelFile {
        let ctx = ErrorContext(file: file)
        defer { kite__model__free_unpacked(parsed, nil) }
        let m = parsed.pointee
        guard m.has_format_version != 0 else { throw KiteError.malformed(ctx, "not a .kite file (no format version)") }
        guard Int(m.format_version) <= version else {
            throw KiteError.malformed(ctx, "format version \(m.format_version) is newer than this Kite reads (\(version)); upgrade Kite")
        }
        guard let g = m.graph else { throw KiteError.malformed(ctx, "model has no graph") }
        let decoder = Decoder(file: file)
        var graph = try decoder.graph(g.pointee)
        do {
            try graph.reinferShapes()
        } catch let e as KiteError {
            throw e.adding(ctx)
        }
        var metadata: [(key: String, value: String)] = []
        for i in 0..<m.n_metadata {
            if let e = m.metadata[i] { metadata.append((key: cString(e.pointee.key), value: cString(e.pointee.value))) }
        }
        var model = KiteModelFile(producer: cString(m.producer), source: cString(m.source), metadata: metadata, graph: graph)
        model.formatVersion = Int(m.format_version)
        return model
    }

    /// Whether a file starts like a `.kite` file rather than an ONNX one (by extension, then content).
    public static func looksLikeKite(path: String) -> Bool {
        path.lowercased().hasSuffix(".kite")
    }
}

func cString(_ p: UnsafeMutablePointer<CChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
}
