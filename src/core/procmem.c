/* procmem.c - a process's memory from /proc (see procmem.h). */
#include "cunicorn/procmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated). Bytes read, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    buf[got] = '\0';
    return got > 0 ? (ssize_t)got : -1;
}

static long pss_kb(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return -1;
    const char *line = strstr(buf, "\nPss:");
    return line != NULL ? strtol(line + 5, NULL, 10) : -1;
}

static long rss_kb(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    if (read_small(path, buf, sizeof(buf)) < 0)
        return -1;
    long size, resident;
    if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
        return -1;
    long page = sysconf(_SC_PAGESIZE);
    return resident * ((page > 0 ? page : 4096) / 1024);
}

long cn_proc_memory_kb(pid_t pid)
{
    long kb = pss_kb(pid);
    return kb >= 0 ? kb : rss_kb(pid);
}
