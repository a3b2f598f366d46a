/* reexec.h - USR2, Gunicorn's binary upgrade: the master runs its command
 * line again in a child, which inherits the listening sockets (never closed,
 * never re-bound) through $GUNICORN_FD and knows its parent through
 * $GUNICORN_PID. The arbiter keeps the state (which master is which); this
 * is the child's side. Must not: include Python.h. */
#ifndef CUNICORN_REEXEC_H
#define CUNICORN_REEXEC_H

#include "cunicorn/sock.h"

#include <sys/types.h>

/**
 * In the forked child: export GUNICORN_PID=master_pid and GUNICORN_FD (the
 * listeners' fds, comma-separated, made inheritable), go back to cwd (where
 * the master started, so relative paths in argv mean the same) and exec
 * argv[0] through $PATH, so an upgraded binary installed there is the one
 * that runs. Returns only if that fails (logged); the caller then _exits.
 */
void cn_reexec_child(char *const *argv, const char *cwd, pid_t master_pid,
                     const cn_listener_t *listeners, size_t nlisteners);

/**
 * In main(), before binding: the fds an upgrading master handed over
 * ($GUNICORN_FD, as "fd://N" addresses for cn_listener_open) and its pid
 * ($GUNICORN_PID); both variables are removed so workers and the app do not
 * see them. Returns the number of fds put into specs (at most max), 0 when
 * this is no upgrade, -1 with err set when the variables are malformed.
 */
int cn_reexec_inherited(char specs[][32], size_t max, pid_t *old_master, char *err);

#endif
