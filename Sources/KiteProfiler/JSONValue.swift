/// A JSON value with keys kept in the order given, so reports read top-down (name first, details after).
enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null

    /// A number rounded to `digits` decimals (JSON has no NaN or infinity: those become null).
    static func number(_ value: Double, digits: Int = 6) -> JSONValue {
        guard value.isFinite else { return .null }
        let scale = Double.pow10(digits)
        return .double((value * scale).rounded() / scale)
    }

    /// Renders compactly, or with two-space indentation; `inlineDepth` keeps values nested deeper on one line.
    func rendered(pretty: Bool, inlineDepth: Int = .max) -> String {
        var out = ""
        write(into: &out, pretty: pretty, depth: 0, inlineDepth: inlineDepth)
        return out
    }

    private func write(into out: inout String, pretty: Bool, depth: Int, inlineDepth: Int) {
        let breakLines = pretty && depth < inlineDepth
        let pad = breakLines ? "\n" + String(repeating: "  ", count: depth + 1) : ""
        let close = breakLines ? "\n" + String(repeating: "  ", count: depth) : ""
        let separator = pretty && !breakLines ? ", " : ","
        switch self {
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                out += (i == 0 ? "" : separator) + pad + JSONValue.quote(key) + (pretty ? ": " : ":")
                value.write(into: &out, pretty: pretty, depth: depth + 1, inlineDepth: inlineDepth)
            }
            out += close + "}"
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, value) in items.enumerated() {
                out += (i == 0 ? "" : separator) + pad
                value.write(into: &out, pretty: pretty, depth: depth + 1, inlineDepth: inlineDepth)
            }
            out += close + "]"
        case .string(let s): out += JSONValue.quote(s)
        case .int(let v): out += String(v)
        case .double(let v):
            if !v.isFinite { out += "null" } else if v == v.rounded(), abs(v) < 1e15 { out += String(Int(v)) } else { out += "\(v)" }
        case .bool(let v): out += v ? "true" : "false"
        case .null: out += "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c" // safe to embed in HTML <script> blocks
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension Double {
    static func pow10(_ n: Int) -> Double {
        var v = 1.0
        for _ in 0..<max(n, 0) { v *= 10 }
        return v
    }
}
