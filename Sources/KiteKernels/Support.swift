// Internal helpers shared by the kernels: aligned storage and unaligned SIMD loads/stores.

import Foundation

/// Owns one 64-byte aligned allocation of floats; freed when the last reference goes away.
///
/// Kept in a final class so that the packed-weight structs holding it are cheap to copy.
/// The contents are written once (at plan time, inside the packing initialisers) and only
/// read afterwards, which is why the structs that wrap it can be `Sendable`.
@usableFromInline
final class AlignedFloatStorage: @unchecked Sendable {
    /// Start of the allocation.
    @usableFromInline let pointer: UnsafeMutablePointer<Float>
    /// Number of floats allocated.
    @usableFromInline let count: Int

    /// What `calloc` returned (`pointer` is rounded up from it to 64 bytes).
    private let allocation: UnsafeMutableRawPointer

    /// Allocates `count` zero-initialised floats aligned to 64 bytes.
    ///
    /// `calloc` rather than an aligned allocation and a fill: a large block comes fresh from the
    /// kernel already zero, so the packers' writes are the only pass over it (the fill was a
    /// second pass over every packed weight when a model is opened).
    @usableFromInline
    init(count: Int) {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard let raw = calloc(bytes + 64, 1) else {
            preconditionFailure("out of memory allocating \(bytes) bytes of packed weights")
        }
        allocation = raw
        let aligned = raw + (64 - Int(bitPattern: raw) % 64) % 64
        pointer = aligned.bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
    }

    deinit {
        free(allocation)
    }
}

@inline(__always) @usableFromInline
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) @usableFromInline
func load16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) @usableFromInline
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Loads the first `count` (< 8) floats of `p` into a vector, zero elsewhere; never reads past `p + count`.
@inline(__always) @usableFromInline
func loadPartial8(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD8<Float> {
    // Pieces of 4, 2 and 1 floats: at most three loads, not one per lane.
    if count >= 8 { return load8(p) }
    let q = UnsafeRawPointer(p)
    let whole = count >= 4
    let tail = q + (whole ? 16 : 0)
    var part = SIMD4<Float>()
    if count & 2 != 0 { part.lowHalf = tail.loadUnaligned(as: SIMD2<Float>.self) }
    if count & 1 != 0 { part[count & 2] = tail.loadUnaligned(fromByteOffset: 4 * (count & 2), as: Float.self) }
    return whole ? SIMD8(lowHalf: q.loadUnaligned(as: SIMD4<Float>.self), highHalf: part) : SIMD8(lowHalf: part, highHalf: SIMD4())
}

/// Loads the first `count` (< 16) floats of `p` into a vector, zero elsewhere; never reads past `p + count`.
@inline(__always) @usableFromInline
func loadPartial16(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD16<Float> {
    // A whole 8-lane half where it can: N = 16 k + 8 is common (24, 40, 72, 120 channels).
    if count >= 8 { return SIMD16(lowHalf: load8(p), highHalf: loadPartial8(p + 8, count - 8)) }
    return SIMD16(lowHalf: loadPartial8(p, count), highHalf: SIMD8())
}

/// Stores the first `count` (< 16) lanes of `v` to `p`; never writes past `p + count`.
@inline(__always) @usableFromInline
func storePartial16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= 8 {
        store8(v.lowHalf, p)
        storePartial8(v.highHalf, p + 8, count - 8)
    } else {
        storePartial8(v.lowHalf, p, count)
    }
}

/// Stores the first `count` (< 8) lanes of `v` to `p`; never writes past `p + count`.
@inline(__always) @usableFromInline
func storePartial8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    // Pieces of 4, 2 and 1 lanes: at most three stores, not one per lane (a 12-column GEMM tile
    // stored each row's last four columns one by one).
    if count >= 8 { return store8(v, p) }
    var q = UnsafeMutableRawPointer(p)
    var rest = v.lowHalf
    if count >= 4 {
        q.storeBytes(of: v.lowHalf, as: SIMD4<Float>.self)
        rest = v.highHalf
        q += 16
    }
    var last = rest.lowHalf
    if count & 2 != 0 {
        q.storeBytes(of: rest.lowHalf, as: SIMD2<Float>.self)
        last = rest.highHalf
        q += 8
    }
    if count & 1 != 0 { q.storeBytes(of: last[0], as: Float.self) }
}

/// Lane-wise minimum that lowers to `vminps` (the stdlib `pointwiseMin` is an out-of-line call).
@inline(__always) @usableFromInline
func vmin(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .< a) }

/// Lane-wise maximum that lowers to `vmaxps`.
@inline(__always) @usableFromInline
func vmax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

/// Lane-wise minimum for 16 lanes.
@inline(__always) @usableFromInline
func vmin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: b .< a) }

/// Lane-wise maximum for 16 lanes.
@inline(__always) @usableFromInline
func vmax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a.replacing(with: b, where: b .> a) }

/// A compile-time count used as a generic parameter, so that each kernel variant (rows per tile,
/// kernel width, ...) is a separate specialisation with the count folded, independent of inlining.
@usableFromInline
protocol StaticCount {
    static var value: Int { get }
}

@usableFromInline enum Count0: StaticCount { @usableFromInline static var value: Int { 0 } }
@usableFromInline enum Count1: StaticCount { @usableFromInline static var value: Int { 1 } }
@usableFromInline enum Count2: StaticCount { @usableFromInline static var value: Int { 2 } }
@usableFromInline enum Count3: StaticCount { @usableFromInline static var value: Int { 3 } }
@usableFromInline enum Count4: StaticCount { @usableFromInline static var value: Int { 4 } }
@usableFromInline enum Count5: StaticCount { @usableFromInline static var value: Int { 5 } }
@usableFromInline enum Count6: StaticCount { @usableFromInline static var value: Int { 6 } }
@usableFromInline enum Count7: StaticCount { @usableFromInline static var value: Int { 7 } }
@usableFromInline enum Count8: StaticCount { @usableFromInline static var value: Int { 8 } }
@usableFromInline enum Count12: StaticCount { @usableFromInline static var value: Int { 12 } }
@usableFromInline enum Count16: StaticCount { @usableFromInline static var value: Int { 16 } }
@usableFromInline enum Count24: StaticCount { @usableFromInline static var value: Int { 24 } }
@usableFromInline enum Count32: StaticCount { @usableFromInline static var value: Int { 32 } }
@usableFromInline enum Count40: StaticCount { @usableFromInline static var value: Int { 40 } }
@usableFromInline enum Count48: StaticCount { @usableFromInline static var value: Int { 48 } }
@usableFromInline enum Count64: StaticCount { @usableFromInline static var value: Int { 64 } }

/// An 8- or 16-lane float vector, so that one kernel body serves the AVX2 and the AVX-512 width.
@usableFromInline
protocol FloatVector: SIMD where Scalar == Float {
    static func load(_ p: UnsafePointer<Float>) -> Self
    /// The first `count` floats of `p`, zeros after; reads nothing past `p + count`.
    static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Self
    func store(_ p: UnsafeMutablePointer<Float>)
    /// Stores the first `count` lanes; writes nothing past `p + count`.
    func storePartial(_ p: UnsafeMutablePointer<Float>, _ count: Int)
    func activated<A: VectorActivation>(_ act: A) -> Self
}

extension SIMD8: FloatVector where Scalar == Float {
    @inline(__always) @usableFromInline static func load(_ p: UnsafePointer<Float>) -> Self { load8(p) }
    @inline(__always) @usableFromInline static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Self { loadPartial8(p, count) }
    @inline(__always) @usableFromInline func storePartial(_ p: UnsafeMutablePointer<Float>, _ count: Int) { storePartial8(self, p, count) }
    @inline(__always) @usableFromInline func store(_ p: UnsafeMutablePointer<Float>) { store8(self, p) }
    @inline(__always) @usableFromInline func activated<A: VectorActivation>(_ act: A) -> Self { act(self) }
}

extension SIMD16: FloatVector where Scalar == Float {
    @inline(__always) @usableFromInline static func load(_ p: UnsafePointer<Float>) -> Self { load16(p) }
    @inline(__always) @usableFromInline static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> Self { loadPartial16(p, count) }
    @inline(__always) @usableFromInline func storePartial(_ p: UnsafeMutablePointer<Float>, _ count: Int) { storePartial16(self, p, count) }
    @inline(__always) @usableFromInline func store(_ p: UnsafeMutablePointer<Float>) { store16(self, p) }
    @inline(__always) @usableFromInline func activated<A: VectorActivation>(_ act: A) -> Self { act(self) }
}

@_silgen_name("llvm.prefetch.p0")
func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cache: Int32)

/// How far ahead of a streamed weight read the GEMM and fully connected kernels ask for lines:
/// 512 bytes. From memory the hardware prefetchers alone kept only a few lines in flight
/// (11-13 GB/s on a classifier's weights); 384-768 bytes did about as well, 1 KiB and more less
/// well. Weights already in cache pay a load-port slot per prefetch, which the FMAs hide.
let weightPrefetchFloats = 128

/// Asks for the cache line holding `p` in all cache levels (a hint: never faults).
@inline(__always)
func prefetchForRead(_ p: UnsafeRawPointer) { llvmPrefetch(p, 0, 3, 1) }

/// Asks for the cache line holding `p` in L2 and L3, to be read later (`prefetcht1`): data
/// needed after more than L1 holds has passed.
@inline(__always)
func prefetchToLevel2(_ p: UnsafeRawPointer) { llvmPrefetch(p, 0, 2, 1) }

/// Asks for the cache line holding `p` in all cache levels, to be written (`prefetchw` where the
/// CPU has it): a store to a line not in cache otherwise waits for the line first.
@inline(__always)
func prefetchForWrite(_ p: UnsafeRawPointer) { llvmPrefetch(p, 1, 3, 1) }

/// An index table with a stable address for the kernels (allocated once at plan time).
public final class IndexTable: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Int>
    public let count: Int

    public init(_ values: [Int]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(repeating: 0, count: max(values.count, 1))
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    deinit { pointer.deallocate() }
}
