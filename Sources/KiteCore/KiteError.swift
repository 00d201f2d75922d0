/// Where in a model something went wrong. Every field is optional; the
/// description prints those that are known, file first.
public struct ErrorContext: Sendable, Equatable {
    public var file: String?
    public var node: String?
    public var opType: String?
    public var domain: String?
    public var opset: Int?
    public var attribute: String?
    public var tensor: String?
    /// The model-local function whose body holds the node or attribute.
    public var function: String?

    public init(file: String? = nil, node: String? = nil, opType: String? = nil, domain: String? = nil,
                opset: Int? = nil, attribute: String? = nil, tensor: String? = nil, function: String? = nil) {
        self.file = file
        self.node = node
        self.opType = opType
        self.domain = domain
        self.opset = opset
        self.attribute = attribute
        self.tensor = tensor
        self.function = function
    }

    /// Fills fields that are still unknown from `outer`.
    public func merged(with outer: ErrorContext) -> ErrorContext {
        ErrorContext(file: file ?? outer.file, node: node ?? outer.node, opType: opType ?? outer.opType,
                     domain: domain ?? outer.domain, opset: opset ?? outer.opset,
                     attribute: attribute ?? outer.attribute, tensor: tensor ?? outer.tensor,
                     function: function ?? outer.function)
    }

    var prefix: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let function { parts.append("function '\(function)'") }
        if let node {
            var n = "node '\(node)'"
            if let opType {
                let dom = (domain ?? "").isEmpty ? "" : "\(domain!)."
                n += " (\(dom)\(opType)" + (opset.map { ", opset \($0)" } ?? "") + ")"
            }
            parts.append(n)
        } else if let opType {
            parts.append(opType)
        }
        if let tensor { parts.append("tensor '\(tensor)'") }
        if let attribute { parts.append("attribute '\(attribute)'") }
        return parts.joined(separator: ": ")
    }
}

/// One node Kite cannot run, with the reason.
public struct UnsupportedNode: Sendable, Equatable {
    public var context: ErrorContext
    public var reason: String
    public init(context: ErrorContext, reason: String) {
        self.context = context
        self.reason = reason
    }
}

/// Errors Kite reports to users. Each prints as one line naming the file and,
/// where there is one, the node, tensor or field at fault.
public enum KiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file cannot be read (missing, a directory, unreadable).
    case io(ErrorContext, String)
    /// The bytes are not a valid model (not protobuf, truncated, missing parts).
    case malformed(ErrorContext, String)
    /// A tensor's data disagrees with its type or shape.
    case invalidTensor(ErrorContext, String)
    /// A node's attributes or inputs are wrong for its op.
    case invalidNode(ErrorContext, String)
    /// Nodes Kite cannot run, all of them at once.
    case unsupported([UnsupportedNode])
    /// Shapes that do not fit together.
    case shapeMismatch(ErrorContext, String)
    /// A user-supplied argument or input is wrong.
    case invalidArgument(String)
    /// The model needs more memory than the machine has (or than can be allocated).
    case tooLarge(ErrorContext, String)

    public var description: String { escapingControlCharacters(text) }

    private var text: String {
        switch self {
        case .io(let c, let m), .malformed(let c, let m), .invalidTensor(let c, let m),
             .invalidNode(let c, let m), .shapeMismatch(let c, let m), .tooLarge(let c, let m):
            let p = c.prefix
            return p.isEmpty ? m : "\(p): \(m)"
        case .unsupported(let nodes):
            let file = nodes.first?.context.file.map { "\($0): " } ?? ""
            let items = nodes.map { n -> String in
                var c = n.context
                c.file = nil
                return "\(c.prefix): \(n.reason)"
            }
            return "\(file)\(nodes.count) unsupported node\(nodes.count == 1 ? "" : "s"): " + items.joined(separator: "; ")
        case .invalidArgument(let m):
            return m
        }
    }

    /// The same error with unknown context fields filled from `outer`.
    public func adding(_ outer: ErrorContext) -> KiteError {
        switch self {
        case .io(let c, let m): return .io(c.merged(with: outer), m)
        case .malformed(let c, let m): return .malformed(c.merged(with: outer), m)
        case .invalidTensor(let c, let m): return .invalidTensor(c.merged(with: outer), m)
        case .invalidNode(let c, let m): return .invalidNode(c.merged(with: outer), m)
        case .shapeMismatch(let c, let m): return .shapeMismatch(c.merged(with: outer), m)
        case .tooLarge(let c, let m): return .tooLarge(c.merged(with: outer), m)
        case .unsupported(let nodes):
            return .unsupported(nodes.map { UnsupportedNode(context: $0.context.merged(with: outer), reason: $0.reason) })
        case .invalidArgument: return self
        }
    }
}

/// `s` with control and line-separator characters written as escapes: names and messages taken
/// from a broken file may hold any bytes, and an error must still print as one line.
func escapingControlCharacters(_ s: String) -> String {
    if !s.unicodeScalars.contains(where: isControl) { return s }
    var out = ""
    for u in s.unicodeScalars {
        switch u {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where isControl(u): out += "\\u{" + String(u.value, radix: 16) + "}"
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

private func isControl(_ u: Unicode.Scalar) -> Bool {
    u.value < 0x20 || (0x7f...0x9f).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
}
