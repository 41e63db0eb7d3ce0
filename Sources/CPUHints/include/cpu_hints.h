#ifndef POLLTALLY_CPU_HINTS_H
#define POLLTALLY_CPU_HINTS_H

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/// Asks the CPU to start loading the cache line at `address` for a write soon; a hint with no
/// effect on results. Swift has no way to say this; replay and recovery use it to overlap the
/// cache misses of large ballot tables instead of taking them one after another.
static inline void polltally_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Asks the kernel to back the whole pages within the `length` bytes at `address` with memory now,
/// in one call, rather than one page fault at a time on their first write: a restart fills a few
/// hundred megabytes of fresh tables, and on a VM the faults cost a fifth of its time. A hint:
/// where the kernel cannot (before Linux 5.14, or out of memory), the pages fault in as usual.
static inline void polltally_populate(void *address, unsigned long length) {
#ifdef __linux__
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)address + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)address + length) & ~(page - 1);
    if (end > start) (void)madvise((void *)start, end - start, 23 /* MADV_POPULATE_WRITE */);
#endif
}

#endif
