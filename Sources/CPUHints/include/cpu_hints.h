#ifndef POLLTALLY_CPU_HINTS_H
#define POLLTALLY_CPU_HINTS_H

/// Asks the CPU to start loading the cache line at `address` for a write soon; a hint with no
/// effect on results. Swift has no way to say this; replay and recovery use it to overlap the
/// cache misses of large ballot tables instead of taking them one after another.
static inline void polltally_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

#endif
