// What the CPU running the process can execute, for choosing between kernel variants.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Instruction-set features read once from the operating system.
public enum CPUFeatures {
    /// AVX-512 Foundation: 32 vector registers of 16 floats. The 16-lane kernels need the
    /// registers; compiled for the host (`-march=native`) they use them when the host has them.
    /// `KITE_NO_AVX512=1` in the environment forces the 8-lane kernels.
    public static let avx512: Bool = {
        if environmentValue("KITE_NO_AVX512") == "1" { return false }
        return cpuInfoField("flags").split(separator: " ").contains("avx512f")
    }()

    /// Whether the CPU is Intel's (`vendor_id` GenuineIntel): its server cores reach L3 across a
    /// mesh, at about twice the latency of a Zen core's L3, which moves where streaming pays.
    public static let intel: Bool = cpuInfoField("vendor_id") == "GenuineIntel"

    /// Whether the CPU is an AMD Zen 3 or later (`cpu family` 25 or more): its L3 answers a core
    /// at about half a Zen 1's latency and its prefetchers follow the strided reads of the
    /// in-place depthwise paths, so software prefetches and L2-sized depthwise tiles, measured
    /// to pay on a Zen 1, cost there instead.
    public static let zen3OrLater: Bool = {
        guard cpuInfoField("vendor_id") == "AuthenticAMD", let family = Int(cpuInfoField("cpu family")) else { return false }
        return family >= 25
    }()

    /// The value of the first /proc/cpuinfo line named `name` (empty where there is none).
    static func cpuInfoField(_ name: String) -> String {
        guard let file = fopen("/proc/cpuinfo", "r") else { return "" }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            guard let line else { break }
            let text = String(cString: line)
            guard let colon = text.firstIndex(of: ":"),
                  text[..<colon].trimmingCharacters(in: .whitespaces) == name else { continue }
            return text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ""
    }
}

/// Whether the 16-lane kernels run (GEMM, depthwise, Winograd transforms): on CPUs with
/// AVX-512. A variable so that tests and benchmarks can run both widths on one machine.
nonisolated(unsafe) var wideVectorKernels = CPUFeatures.avx512

/// The value of an environment variable, if set.
func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
