/* notify.h - the systemd notification protocol (sd_notify), spoken by the
 * master.
 *
 * Owns: sending one message ("READY=1", "STATUS=...", ...) as one datagram
 * to the unix socket $NOTIFY_SOCKET names (a path, or '@' for the abstract
 * namespace), and reading the watchdog period ($WATCHDOG_USEC, for
 * $WATCHDOG_PID). Written here rather than linking libsystemd: the protocol
 * is one sendto(), and the server stays free of a library the container and
 * non-systemd users would have to carry (docs/design.md).
 * Must not: include Python.h, log, or block: a socket whose queue is full
 * drops the message, since the master must never wait on systemd. Each
 * message opens its own close-on-exec socket, so nothing leaks into the
 * workers. */
#ifndef CUNICORN_NOTIFY_H
#define CUNICORN_NOTIFY_H

#include "cunicorn/common.h"

#include <sys/types.h>

/** Whether $NOTIFY_SOCKET is set (the service manager listens). */
bool cn_notify_enabled(void);

/** Send the message (newline-separated "KEY=value" lines). 0 when it was
 * sent or there is no $NOTIFY_SOCKET; -1 with errno when it was not. */
int cn_notify(const char *fmt, ...) CN_PRINTF(1, 2);

/** The watchdog period in seconds, 0 for none: $WATCHDOG_USEC, when
 * $WATCHDOG_PID is unset, this process, or `also` (a USR2's new master
 * inherits the old master's variables). */
double cn_notify_watchdog_period(pid_t also);

/** While the master itself imports the app (preload_app), before the
 * arbiter runs: EXTEND_TIMEOUT_USEC= every second from a thread, until
 * cn_notify_extend_stop(), so a slow import outlasts TimeoutStartSec. The
 * thread is joined by stop, before any fork. Nothing without
 * $NOTIFY_SOCKET. */
void cn_notify_extend_start(void);
void cn_notify_extend_stop(void);

/** CLOCK_MONOTONIC in microseconds, for "MONOTONIC_USEC=". */
unsigned long long cn_notify_monotonic_usec(void);

#endif
