/// Offsets of every buffer in one arena, chosen from buffer lifetimes.
///
/// Buffers are placed largest first (XNNPACK's order); each goes to the lowest
/// offset that does not overlap a buffer alive at the same time, so memory is
/// reused as soon as a buffer's last reader has run.
public struct MemoryPlan: Sendable {
    /// A buffer needed from step `firstUse` through step `lastUse` (inclusive).
    public struct Request: Sendable {
        public var bytes: Int
        public var firstUse: Int
        public var lastUse: Int
        public init(bytes: Int, firstUse: Int, lastUse: Int) {
            self.bytes = bytes
            self.firstUse = firstUse
            self.lastUse = lastUse
        }
    }

    /// Byte offset of each request in the arena.
    public private(set) var offsets: [Int]
    /// Total arena size in bytes.
    public private(set) var arenaBytes: Int
    /// The largest sum of sizes alive at once: no plan can be smaller.
    public private(set) var lowerBound: Int

    /// Alignment of every buffer (a cache line, and the widest vector).
    public static let alignment = 64

    public init(_ requests: [Request]) {
        let align = MemoryPlan.alignment
        let sizes = requests.map { ($0.bytes + align - 1) / align * align }
        var offsets = [Int](repeating: 0, count: requests.count)
        var placed: [(offset: Int, size: Int, first: Int, last: Int)] = []
        let order = requests.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }
        var arena = 0
        for i in order {
            let r = requests[i]
            let conflicts = placed.filter { $0.first <= r.lastUse && r.firstUse <= $0.last }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for c in conflicts {
                if candidate + sizes[i] <= c.offset { break }
                candidate = max(candidate, c.offset + c.size)
            }
            offsets[i] = candidate
            placed.append((candidate, sizes[i], r.firstUse, r.lastUse))
            arena = max(arena, candidate + sizes[i])
        }
        self.offsets = offsets
        self.arenaBytes = arena
        let steps = (requests.map(\.lastUse).max() ?? -1) + 1
        var bound = 0
        for s in 0..<max(steps, 0) {
            var alive = 0
            for (i, r) in requests.enumerated() where r.firstUse <= s && s <= r.lastUse { alive += sizes[i] }
            bound = max(bound, alive)
        }
        self.lowerBound = bound
    }
}
