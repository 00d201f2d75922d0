import Foundation
import KiteKernels
import KiteRuntime

/// What the profiler compares ops against: this machine's peak FP32 compute and memory bandwidth,
/// measured by Kite on the spot for the thread count a profile uses.
///
/// Peak compute is one core's register-resident FMA loop (Swift SIMD `addingProduct` over twelve
/// independent 8-lane accumulators, or 16-lane ones where the kernels use AVX-512) times the
/// threads used (at most one per core). Bandwidth is a streaming copy (read + write) over buffers well beyond the last-level cache, split across the
/// same threads. Both take well under 0.3 s and are cached for the process.
public struct Machine: Sendable, Equatable {
    /// Threads the figures are for.
    public var threads: Int
    /// Peak FP32 GFLOP/s of one core.
    public var peakGFLOPSPerCore: Double
    /// Streaming memory bandwidth in GB/s (10^9 bytes) with `threads` threads.
    public var bandwidthGBs: Double
    /// How the peak was reached (which loop won, and whether FMA was available to it).
    public var method: String
    /// The CPU's model name when the OS reports one.
    public var cpu: String
    /// Last-level cache size in bytes (0 when unknown).
    public var lastLevelCacheBytes: Int

    public init(threads: Int, peakGFLOPSPerCore: Double, bandwidthGBs: Double, method: String = "given",
                cpu: String = "", lastLevelCacheBytes: Int = 0) {
        self.threads = threads
        self.peakGFLOPSPerCore = peakGFLOPSPerCore
        self.bandwidthGBs = bandwidthGBs
        self.method = method
        self.cpu = cpu
        self.lastLevelCacheBytes = lastLevelCacheBytes
    }

    /// Cores that compute in parallel: the threads used, at most one per core.
    public var computeThreads: Int { max(1, min(threads, Machine.availableCores)) }

    /// Cores this process may use, read once: Foundation reads the cgroup files on every call,
    /// which made a report of 50,000 ops spend seconds in `open` and `read`.
    public static let availableCores = ProcessInfo.processInfo.activeProcessorCount
    /// Peak FP32 GFLOP/s with all threads used.
    public var peakGFLOPS: Double { peakGFLOPSPerCore * Double(computeThreads) }
    /// The machine balance (ridge point of the roofline): FLOPs per byte at which an op needs as
    /// long to compute as to move its bytes. Ops below it are bound by memory, above by compute.
    public var balance: Double { bandwidthGBs > 0 ? peakGFLOPS / bandwidthGBs : .infinity }

    /// The best GFLOP/s an op of this arithmetic intensity (FLOPs per byte) can reach here.
    public func attainableGFLOPS(intensity: Double) -> Double { min(peakGFLOPS, intensity * bandwidthGBs) }

    nonisolated(unsafe) private static var cache: [Int: Machine] = [:]
    private static let cacheLock = NSLock()

    /// The measured peak GFLOP/s of one core and how it was measured, without the bandwidth
    /// measurement `measure` adds (a few tens of milliseconds; cached like `measure`).
    public static func measurePeakPerCore() -> (gflops: Double, method: String) {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let m = cache.values.first { return (m.peakGFLOPSPerCore, m.method) }
        if let p = peakCache { return p }
        let p = PeakCompute.measure()
        peakCache = (p.0, p.1)
        return (p.0, p.1)
    }

    nonisolated(unsafe) private static var peakCache: (gflops: Double, method: String)?

    /// Measures this machine for `threads` threads (0: one per core); later calls return the cached result.
    public static func measure(threads: Int = 0) -> Machine {
        let cores = availableCores
        let n = threads > 0 ? threads : max(1, cores)
        cacheLock.lock()
        defer { cacheLock.unlock() }
        if let m = cache[n] { return m }
        // Peak per core does not depend on the thread count: reuse any earlier measurement.
        let peak = cache.values.first.map { ($0.peakGFLOPSPerCore, $0.method) } ?? peakCache.map { ($0.gflops, $0.method) }
            ?? PeakCompute.measure()
        let llc = lastLevelCacheSize()
        let bandwidth = StreamBandwidth.measure(threads: min(n, cores), cacheBytes: llc)
        let m = Machine(threads: n, peakGFLOPSPerCore: peak.0, bandwidthGBs: bandwidth, method: peak.1,
                        cpu: cpuModelName(), lastLevelCacheBytes: llc)
        cache[n] = m
        return m
    }
}

/// Nanoseconds of a monotonic clock.
func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The peak FP32 rate of one core from a register-resident multiply-add loop.
enum PeakCompute {
    static let accumulators = 12
    static let lanes = 8

    /// Runs the FMA loop and a separate multiply-then-add loop and keeps the faster: without FMA in
    /// the target (KiteProfiler built without `-march=native`) `addingProduct` becomes a libm call
    /// per lane and the plain loop is the better estimate.
    static func measure() -> (Double, String) {
        let fma = rate(fmaLoop)
        let mulAdd = rate(mulAddLoop)
        var method = "SIMD\(lanes) FMA loop, \(accumulators) accumulators"
        if fma < 0.5 * mulAdd {
            // FMA as a libm call per lane: the target lacks FMA.
            method = "SIMD\(lanes) multiply+add loop, \(accumulators) accumulators (FMA was \(String(format: "%.1f", fma)) GFLOP/s: "
                + "KiteProfiler is built without -march=native, so peak may be underestimated)"
        } else if mulAdd > fma {
            // Some cores (AMD Zen) issue separate multiplies and adds as fast as FMAs.
            method += " (a multiply+add loop reached \(String(format: "%.1f", mulAdd)) GFLOP/s)"
        }
        var best = max(fma, mulAdd)
        // With AVX-512 the kernels run 16-lane vectors: a core with two 512-bit FMA pipes (a Xeon)
        // doubles the 8-lane rate, and an 8-lane peak put most GEMMs "above peak".
        if CPUFeatures.avx512 {
            let wide = rate(lanes: 16, fmaLoop16)
            if wide > best {
                method = "SIMD16 FMA loop, \(accumulators) accumulators (SIMD\(lanes): \(String(format: "%.1f", best)) GFLOP/s)"
                best = wide
            }
        }
        #if DEBUG
        method += "; debug build: figures are not representative"
        #endif
        return (best, method)
    }

    /// GFLOP/s of a loop: iterations are doubled until a run takes 4 ms, then the best of three runs counts.
    static func rate(lanes: Int = PeakCompute.lanes, _ loop: (Int, SIMD8<Float>, SIMD8<Float>, UnsafeMutablePointer<Float>) -> Void) -> Double {
        let x = SIMD8<Float>(repeating: opaque(0.999_9)), y = SIMD8<Float>(repeating: opaque(1e-6))
        let out = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { out.deallocate() }
        var iterations = 1024
        var elapsed: UInt64 = 0
        // The loop stores its result through a pointer the clock call might read, so it cannot
        // be moved out of the timed region or dropped.
        while true {
            let start = monotonicNanoseconds()
            loop(iterations, x, y, out)
            elapsed = monotonicNanoseconds() - start
            if elapsed >= 4_000_000 || iterations >= 1 << 30 { break }
            iterations *= 2
        }
        for _ in 0..<2 {
            let start = monotonicNanoseconds()
            loop(iterations, x, y, out)
            elapsed = min(elapsed, monotonicNanoseconds() - start)
        }
        blackHole(out.pointee)
        let flops = Double(iterations * accumulators * lanes * 2)
        return flops / Double(max(elapsed, 1))
    }

    @inline(never)
    static func fmaLoop(_ iterations: Int, _ x: SIMD8<Float>, _ y: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>) {
        var a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x
        for _ in 0..<iterations {
            a0 = a0.addingProduct(x, y); a1 = a1.addingProduct(x, y); a2 = a2.addingProduct(x, y)
            a3 = a3.addingProduct(x, y); a4 = a4.addingProduct(x, y); a5 = a5.addingProduct(x, y)
            a6 = a6.addingProduct(x, y); a7 = a7.addingProduct(x, y); a8 = a8.addingProduct(x, y)
            a9 = a9.addingProduct(x, y); a10 = a10.addingProduct(x, y); a11 = a11.addingProduct(x, y)
        }
        out.pointee = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))).sum()
    }

    @inline(never)
    static func fmaLoop16(_ iterations: Int, _ narrowX: SIMD8<Float>, _ narrowY: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>) {
        // Built here, not passed in: SIMD16 arguments arrive in halves, and LLVM then split the
        // loop's FMAs into 8-lane halves too.
        let x = SIMD16(lowHalf: narrowX, highHalf: narrowX), y = SIMD16(lowHalf: narrowY, highHalf: narrowY)
        var a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x
        for _ in 0..<iterations {
            a0 = a0.addingProduct(x, y); a1 = a1.addingProduct(x, y); a2 = a2.addingProduct(x, y)
            a3 = a3.addingProduct(x, y); a4 = a4.addingProduct(x, y); a5 = a5.addingProduct(x, y)
            a6 = a6.addingProduct(x, y); a7 = a7.addingProduct(x, y); a8 = a8.addingProduct(x, y)
            a9 = a9.addingProduct(x, y); a10 = a10.addingProduct(x, y); a11 = a11.addingProduct(x, y)
        }
        out.pointee = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))).sum()
    }

    @inline(never)
    static func mulAddLoop(_ iterations: Int, _ x: SIMD8<Float>, _ y: SIMD8<Float>, _ out: UnsafeMutablePointer<Float>) {
        var a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x
        for _ in 0..<iterations {
            a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y
            a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y
            a8 = a8 * x + y; a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y
        }
        out.pointee = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11))).sum()
    }
}

/// Streaming bandwidth: `memcpy` between two buffers each twice the last-level cache (at least 64 MiB),
/// split across threads; bytes read plus bytes written over the best of three passes.
enum StreamBandwidth {
    static func measure(threads: Int, cacheBytes: Int) -> Double {
        let bytes = min(max(64 << 20, 2 * cacheBytes), 512 << 20)
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer {
            src.deallocate()
            dst.deallocate()
        }
        let chunks = max(1, threads)
        let chunk = (bytes / chunks) & ~63
        func pass() -> UInt64 {
            let start = monotonicNanoseconds()
            nonisolated(unsafe) let (s, d) = (src, dst)
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                let n = i == chunks - 1 ? bytes - i * chunk : chunk
                memcpy(d + i * chunk, s + i * chunk, n)
            }
            return monotonicNanoseconds() - start
        }
        // First touch maps the pages (both buffers), outside the timed passes.
        nonisolated(unsafe) let (s, d) = (src, dst)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let n = i == chunks - 1 ? bytes - i * chunk : chunk
            memset(s + i * chunk, 1, n)
            memset(d + i * chunk, 0, n)
        }
        var best = UInt64.max
        for _ in 0..<3 { best = min(best, pass()) }
        return Double(2 * bytes) / Double(max(best, 1))
    }
}

/// Hides a value from the optimiser (so loops over it are not folded away).
@_optimize(none) func opaque(_ x: Float) -> Float { x }
/// Consumes a value the optimiser cannot prove unused.
@_optimize(none) func blackHole(_ x: Float) { _ = x }

/// Size of the largest CPU cache the OS reports, in bytes (0 when unknown).
func lastLevelCacheSize() -> Int {
    #if os(Linux)
    return CacheSizes.all().map(\.bytes).max() ?? 0
    #else
    var size = 0
    var length = MemoryLayout<Int>.size
    if sysctlbyname("hw.l3cachesize", &size, &length, nil, 0) != 0 || size == 0 {
        length = MemoryLayout<Int>.size
        _ = sysctlbyname("hw.l2cachesize", &size, &length, nil, 0)
    }
    return size
    #endif
}

/// The CPU's model name, or "" when the OS does not say.
func cpuModelName() -> String {
    #if os(Linux)
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "" }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
    }
    return ""
    #else
    var length = 0
    sysctlbyname("machdep.cpu.brand_string", nil, &length, nil, 0)
    guard length > 0 else { return "" }
    var chars = [CChar](repeating: 0, count: length)
    sysctlbyname("machdep.cpu.brand_string", &chars, &length, nil, 0)
    return String(cString: chars)
    #endif
}
