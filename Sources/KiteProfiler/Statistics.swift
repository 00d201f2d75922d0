/// Linear-interpolated quantile (`q` in 0...1) of unsorted values; 0 for none.
func quantile(_ values: [Double], _ q: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let pos = q * Double(sorted.count - 1)
    let lo = Int(pos.rounded(.down))
    let hi = min(lo + 1, sorted.count - 1)
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
}

/// The median of unsorted values; 0 for none.
func median(_ values: [Double]) -> Double { quantile(values, 0.5) }
