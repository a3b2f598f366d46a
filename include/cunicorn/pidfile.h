/* pidfile.h - the master's pidfile.
 *
 * Owns: writing "<pid>\n" atomically (temporary file in the same directory,
 * mode 0644, rename), Gunicorn's check for a live owner of an existing file,
 * and removing the file only while it still holds our pid.
 * Must not: log or exit (the arbiter reports the error text). */
#ifndef CUNICORN_PIDFILE_H
#define CUNICORN_PIDFILE_H

#include "cunicorn/common.h"

#include <limits.h>
#include <sys/types.h>

typedef struct cn_pidfile {
    char path[PATH_MAX]; /* "" = no pidfile */
    pid_t pid;           /* the pid we wrote; 0 = nothing written */
} cn_pidfile_t;

/**
 * Pid of a live process named in path, or 0 when the file is absent, does
 * not hold a number, or names a dead process (stale). A process we may not
 * signal (EPERM) counts as live, as in Gunicorn. -errno if the file exists
 * but cannot be read.
 */
int cn_pidfile_validate(const char *path);

/**
 * Write pid to path. Fails with Gunicorn's text in err when another live
 * process holds the file ("Already running on PID N (or pid file 'P' is
 * stale)"), when the directory is missing, or on an I/O error. A file that
 * already holds our own pid is kept. Returns 0, or -errno / -1 with err set.
 */
int cn_pidfile_create(cn_pidfile_t *pf, const char *path, pid_t pid, char *err) CN_NODISCARD;

/** Move the pidfile to a new path (unlink the old one, create the new). */
int cn_pidfile_rename(cn_pidfile_t *pf, const char *path, char *err) CN_NODISCARD;

/** Remove the file if it still holds pf->pid; forget it either way. */
void cn_pidfile_unlink(cn_pidfile_t *pf);

#endif
