import KiteCore

/// Refuses ONNX files whose messages nest too deep for protobuf-c.
///
/// protobuf-c decodes a nested message by recursion, so a file of graphs inside `If`
/// branches, or of sequence types inside sequence types, thousands deep exhausts the stack
/// and the process dies. This walks the wire format first, with an explicit stack, over
/// the fields through which the ONNX schema can nest without bound, and stops at the limit.
/// Malformed data ends the walk quietly: protobuf-c reports it, and it meets that data
/// only after the nesting walked here.
enum NestingCheck {
    /// Messages may nest this deep: 60 graphs inside one another (3 levels each) and room to spare.
    static let maximumDepth = 200

    enum Kind {
        case model, graph, node, attribute, function, valueInfo, type, sequenceType, mapType, optionalType
    }

    /// The kind of message field `field` of a `kind` message holds, for the fields that can lead to nesting.
    static func child(of kind: Kind, field: UInt64) -> Kind? {
        switch (kind, field) {
        case (.model, 7): return .graph
        case (.model, 25): return .function
        case (.graph, 1): return .node
        case (.graph, 11), (.graph, 12), (.graph, 13): return .valueInfo
        case (.function, 7): return .node
        case (.function, 11): return .attribute
        case (.function, 12): return .valueInfo
        case (.node, 5): return .attribute
        case (.attribute, 6), (.attribute, 11): return .graph
        case (.attribute, 14), (.attribute, 15): return .type
        case (.valueInfo, 2): return .type
        case (.type, 4): return .sequenceType
        case (.type, 5): return .mapType
        case (.type, 9): return .optionalType
        case (.sequenceType, 1), (.optionalType, 1), (.mapType, 2): return .type
        default: return nil
        }
    }

    /// Throws when a serialized `ModelProto` nests deeper than `maximumDepth`.
    static func check(_ bytes: UnsafeBufferPointer<UInt8>, file: String) throws {
        var stack: [(kind: Kind, end: Int)] = [(.model, bytes.count)]
        var position = 0

        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < bytes.count && shift < 64 {
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        while let top = stack.last {
            if position >= top.end {
                stack.removeLast()
                continue
            }
            guard let tag = varint() else { return }
            switch tag & 7 {
            case 0:
                guard varint() != nil else { return }
            case 1:
                position += 8
            case 5:
                position += 4
            case 2:
                guard let length = varint(), length <= UInt64(top.end - position) else { return }
                let end = position + Int(length)
                if let kind = child(of: top.kind, field: tag >> 3) {
                    stack.append((kind, end))
                    if stack.count > maximumDepth {
                        throw KiteError.malformed(ErrorContext(file: file),
                                                  "not a valid ONNX model: its graphs or types nest more than \(maximumDepth) messages deep")
                    }
                } else {
                    position = end
                }
            default:
                return
            }
            if position > top.end { return }
        }
    }
}
