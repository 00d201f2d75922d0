import Foundation

/// C memory for one protobuf-c message tree being packed; freed all at once.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    func alloc<T>(_: T.Type, count: Int = 1) -> UnsafeMutablePointer<T> {
        let raw = calloc(max(count, 1), MemoryLayout<T>.stride)!
        blocks.append(raw)
        return raw.bindMemory(to: T.self, capacity: max(count, 1))
    }

    func string(_ s: String) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        blocks.append(UnsafeMutableRawPointer(p))
        return p
    }

    func strings(_ list: [String]) -> (Int, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard !list.isEmpty else { return (0, nil) }
        let p = alloc(UnsafeMutablePointer<CChar>?.self, count: list.count)
        for (i, s) in list.enumerated() { p[i] = string(s) }
        return (list.count, p)
    }

    func int64s(_ list: [Int]) -> (Int, UnsafeMutablePointer<Int64>?) {
        guard !list.isEmpty else { return (0, nil) }
        let p = alloc(Int64.self, count: list.count)
        for (i, v) in list.enumerated() { p[i] = Int64(v) }
        return (list.count, p)
    }

    func bytes(_ data: [UInt8]) -> (Int, UnsafeMutablePointer<UInt8>?) {
        guard !data.isEmpty else { return (0, nil) }
        let p = alloc(UInt8.self, count: data.count)
        data.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: data.count) }
        return (data.count, p)
    }

    deinit {
        for b in blocks { free(b) }
    }
}
