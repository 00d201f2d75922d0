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

/// Throws `tooLarge` when `bytes` (sized from a model file) exceed the machine's physical memory:
/// allocating them would abort the process, or swap it to a standstill.
public func checkFitsInMemory(_ bytes: Int, _ what: String, _ context: ErrorContext = ErrorContext()) throws {
    guard let physical = physicalMemoryBytes(), bytes > physical else { return }
    throw KiteError.tooLarge(context, "the model needs \(formatGigabytes(bytes)) of \(what), more than this machine's \(formatGigabytes(physical))")
}

/// `n` bytes as GB with one decimal ("137.4 GB").
func formatGigabytes(_ n: Int) -> String {
    let gb = Double(n) / 1e9
    let tenths = (gb * 10).rounded()
    return "\(Int(tenths) / 10).\(Int(tenths) % 10) GB"
}
