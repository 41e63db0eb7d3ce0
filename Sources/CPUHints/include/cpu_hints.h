#ifndef POLLTALLY_CPU_HINTS_H
#define POLLTALLY_CPU_HINTS_H

/// Asks the CPU to start loading the cache line at `address` for a write soon; a hint with no
/// effect on results. Swift has no way to say this; replay and recovery use it to overlap the
/// cache misses of large ballot tables instead of taking them one after another.
static inline void polltally_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Tells the CPU this thread is spinning on a value another thread will change (x86 `pause`, Arm
/// `yield`): it stops hogging the core's shared resources and leaves the loop sooner when the value
/// changes. The log writer spins briefly for new work before it sleeps.
static inline void polltally_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
