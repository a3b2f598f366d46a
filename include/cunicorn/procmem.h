/* procmem.h - how much memory a process uses, for max_worker_memory.
 *
 * Owns: reading /proc/PID/smaps_rollup (PSS: a page shared by n workers
 * counts 1/n to each, so copy-on-write sharing after preload_app is not
 * counted n times) and, where the kernel has no smaps_rollup, /proc/PID/statm
 * (RSS).
 * Must not: include Python.h, log, or allocate. */
#ifndef CUNICORN_PROCMEM_H
#define CUNICORN_PROCMEM_H

#include "cunicorn/common.h"

#include <sys/types.h>

/** The memory of pid in KiB: PSS if available, else RSS. -1 with errno
 * when neither can be read (the process is gone). */
long cn_proc_memory_kb(pid_t pid);

#endif
