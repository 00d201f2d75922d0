/// A plain-text table: a header, rows, and per-column alignment; columns are as wide as their widest cell.
struct TextTable {
    enum Align { case left, right }
    var columns: [(title: String, align: Align)]
    var rows: [[String]] = []

    init(_ columns: [(String, Align)]) {
        self.columns = columns.map { (title: $0.0, align: $0.1) }
    }

    mutating func add(_ cells: [String]) { rows.append(cells) }

    func render(indent: String = "") -> String {
        var widths = columns.map { $0.title.count }
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var out = indent
            for (i, cell) in cells.enumerated() where i < columns.count {
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                let text = columns[i].align == .left ? cell + pad : pad + cell
                out += (i == 0 ? "" : "  ") + text
            }
            while out.hasSuffix(" ") { out.removeLast() }
            return out
        }
        var lines = [line(columns.map(\.title))]
        lines.append(indent + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}

/// Shortens text to `limit` characters, keeping the end (where ONNX node names are most specific).
func clipLeft(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : limit <= 2 ? "" : ".." + String(text.suffix(limit - 2))
}

/// Shortens text to `limit` characters, keeping the start.
func clipRight(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : limit <= 2 ? "" : String(text.prefix(limit - 2)) + ".."
}

/// The last part of a path-like ONNX node name ("/features/features.0/features.0.1/BatchNormalization" ->
/// "BatchNormalization"), which exporters make the op type; other names are kept whole.
func shortNodeName(_ name: String) -> String {
    guard let slash = name.lastIndex(of: "/"), name.index(after: slash) != name.endIndex else { return name }
    return String(name[name.index(after: slash)...])
}
