#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes of physical memory, or nil when the system does not say.
public func physicalMemoryBytes() -> Int? {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    guard pages > 0, pageSize > 0 else { return nil }
    let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
    return overflow ? Int.max : bytes
}

/// Bytes of address space the process may still map under its `RLIMIT_AS` (`ulimit -v`), or nil
/// when it has no such limit: a Swift array that the limit refuses aborts the process.
public func addressSpaceLeftBytes() -> Int? {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
          limit.rlim_cur < UInt64(Int.max) else { return nil }
    let allowed = Int(limit.rlim_cur)
    // The first field of /proc/self/statm is the mapped size in pages.
    var mapped = 0
    let fd = open("/proc/self/statm", O_RDONLY)
    if fd >= 0 {
        var text = [CChar](repeating: 0, count: 64)
        if read(fd, &text, 63) > 0 { mapped = strtol(text, nil, 10) * max(1, sysconf(Int32(_SC_PAGESIZE))) }
        close(fd)
    }
    return max(0, allowed - mapped)
}

/// Throws `tooLarge` when `bytes` (sized from a model file) exceed the machine's physical memory,
/// or the address space the process's limit leaves: allocating them would abort the process, or
/// swap it to a standstill.
public func checkFitsInMemory(_ bytes: Int, _ what: String, _ context: ErrorContext = ErrorContext()) throws {
    if let physical = physicalMemoryBytes(), bytes > physical {
        throw KiteError.tooLarge(context, "the model needs \(formatGigabytes(bytes)) of \(what), more than this machine's \(formatGigabytes(physical))")
    }
    if let left = addressSpaceLeftBytes(), bytes > left {
        throw KiteError.tooLarge(context, "the model needs \(formatGigabytes(bytes)) of \(what), more than the \(formatGigabytes(left)) "
                                 + "of address space the process limit (ulimit -v) leaves")
    }
}

/// `n` bytes as GB with one decimal ("137.4 GB").
func formatGigabytes(_ n: Int) -> String {
    let gb = Double(n) / 1e9
    let tenths = (gb * 10).rounded()
    return "\(Int(tenths) / 10).\(Int(tenths) % 10) GB"
}
