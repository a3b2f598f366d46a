/* daemon.h - detaching the master from its terminal (daemon, -D).
 * Must not: include Python.h (main.c runs the interpreter's fork protocol
 * around the call). */
#ifndef CUNICORN_DAEMON_H
#define CUNICORN_DAEMON_H

#include "cunicorn/common.h"

/**
 * Gunicorn's daemonize(): fork, setsid, fork again (the process that goes on
 * is no session leader, so it can never take a controlling terminal back),
 * umask 022, stdin from /dev/null and, unless keep_stdio
 * (enable_stdio_inheritance), stdout and stderr to /dev/null too. Returns
 * only in the detached process, 0; the two parents _exit(0). -1 with err set
 * when a fork or setsid fails (nothing detached).
 */
int cn_daemonize(bool keep_stdio, char *err) CN_NODISCARD;

#endif
