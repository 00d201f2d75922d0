import Foundation

/// The CPU's cache sizes as the OS reports them (Linux sysfs, for cpu0), for sizing work to the
/// caches: the streaming threshold and the depthwise tiles (L2), and the profiler's bandwidth
/// buffers (the last level).
public enum CacheSizes {
    /// Level and size in bytes of every cache of cpu0 (data, instruction and unified); empty where
    /// the OS does not say.
    public static func all() -> [(level: Int, bytes: Int)] {
        #if os(Linux)
        var found = [(level: Int, bytes: Int)]()
        for index in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let levelText = try? String(contentsOfFile: dir + "level", encoding: .utf8),
                  let level = Int(levelText.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let sizeText = try? String(contentsOfFile: dir + "size", encoding: .utf8),
                  let bytes = parse(sizeText) else { continue }
            found.append((level, bytes))
        }
        return found
        #else
        return []
        #endif
    }

    /// The core's L2 in bytes, nil when unknown (read once).
    public static let level2: Int? = all().first { $0.level == 2 }?.bytes

    /// The core's L2 in bytes, 1 MiB when the OS does not say: what the planner sizes work to.
    public static var level2OrDefault: Int { level2 ?? 1 << 20 }

    /// A sysfs size such as "512K" or "8M" in bytes.
    static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let multiplier = t.hasSuffix("K") ? 1024 : t.hasSuffix("M") ? 1 << 20 : 1
        guard let value = Int(t.trimmingCharacters(in: CharacterSet.decimalDigits.inverted)), value > 0 else { return nil }
        return value * multiplier
    }
}
