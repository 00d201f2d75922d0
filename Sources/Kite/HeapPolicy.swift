#if canImport(Glibc)
import Glibc
#endif

/// The C heap policy that opening models wants, for processes that open them (the `kite`
/// command sets it first thing; a program embedding Kite may call it too, since it changes the
/// whole process's allocator).
public enum HeapPolicy {
    /// Serve blocks of up to 32 MiB from the heap, and keep up to 1 GiB of freed memory there.
    ///
    /// Opening a model makes and frees copies of its weights (the decoded file's buffers, the
    /// graph's tensors, the packed weights). glibc's defaults map each large block afresh and
    /// unmap it when freed, so every copy paid a page fault and a kernel page clear per 4 KiB:
    /// with freed blocks kept for reuse, `kite bench`'s load time at 1 thread on a Zen 3 went
    /// from 69-73 to 52-59 ms (MobileNetV1) and 405-423 to 299-332 ms (ResNeXt-50), with the
    /// same peak RSS (the freed memory is reused, not added to).
    public static func keepLargeBlocks() {
        #if canImport(Glibc)
        // glibc's mallopt (declared in <malloc.h>, which the Glibc module leaves out); absent in
        // other C libraries, where this does nothing.
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3   // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 1 << 30)
        #endif
    }
}
