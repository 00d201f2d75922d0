// Cache prefetch hints for the Swift kernels: Swift has no way to emit a prefetch instruction,
// and an ordinary load of a line that is not yet needed would stall retirement until it arrives.
// These compile into the Swift module's code (static inline) and become one instruction each.
#ifndef KITE_PREFETCH_H
#define KITE_PREFETCH_H

/// Asks for the line holding `p` in all cache levels, for reading.
static inline __attribute__((always_inline)) void kite_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Asks for the line holding `p` in all cache levels, for writing.
static inline __attribute__((always_inline)) void kite_prefetch_write(void *p) { __builtin_prefetch(p, 1, 3); }

#endif
