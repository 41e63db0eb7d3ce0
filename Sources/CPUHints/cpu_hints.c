// CPUHints is header-only (static inline functions in include/cpu_hints.h); SwiftPM needs one source file.
#include "cpu_hints.h"
