/* timeouts.h - every time limit a worker applies, computed once from the
 * settings, with one rule for 0 and negative values.
 *
 * Owns: the reading of `timeout`, `keepalive` and `graceful_timeout` for the
 * worker side. Worker classes and conn take these values and keep no
 * defaults of their own. (The master reads `timeout` itself, for its
 * heartbeat check: 0 there means no check, as in Gunicorn.)
 * Must not: include Python.h, or look at the clock. */
#ifndef CUNICORN_TIMEOUTS_H
#define CUNICORN_TIMEOUTS_H

#include <stdbool.h>

/* `timeout` <= 0 disables the master's heartbeat check (Gunicorn), but a
 * client still may not hold a connection forever: reads and writes then
 * get this many seconds. */
#define CN_TIMEOUTS_IO_DEFAULT 30.0
/* The longest a worker goes between two heartbeats (and sync's poll slice):
 * well inside the smallest `timeout`, 1 s, even on a busy machine. */
#define CN_TIMEOUTS_BEAT_MAX 0.25
/* A loop that serves every connection (gthread's) writes an error answer
 * with at most this wait, so one client cannot stall the others. */
#define CN_TIMEOUTS_LOOP_WRITE 1.0
/* A stopping worker waits at most this long for the next request on an idle
 * keep-alive connection (and answers it with Connection: close): a client
 * that is using the connection sends within milliseconds, and closing
 * under it is what loses requests; one quiet for longer is idle. */
#define CN_TIMEOUTS_STOP_IDLE 1.0

typedef struct cn_timeouts {
    double io;        /* s: once a request's first byte is in, its head (and a
                         body the loop buffers) must arrive within this; and
                         each wait to read the body or write the response */
    double idle;      /* s: a connection without a byte of its next request is
                         closed after this: `keepalive` when keep-alive is on,
                         else `io` (a new connection's first request) */
    bool keepalive;   /* a connection may serve more than one request */
    double heartbeat; /* s: beat at least this often */
    double graceful;  /* s: a stopping worker gives in-flight requests this
                         long (0: none) */
    double loop_write; /* s: CN_TIMEOUTS_LOOP_WRITE */
    double stop_idle;  /* s: min(idle, CN_TIMEOUTS_STOP_IDLE), the idle wait of
                          a keep-alive connection once the worker stops */
} cn_timeouts_t;

/**
 * The worker's time limits from the settings of the same names (seconds):
 * timeout <= 0 -> io = CN_TIMEOUTS_IO_DEFAULT; keepalive <= 0 -> keep-alive
 * off and idle = io; graceful_timeout < 0 -> 0. heartbeat is
 * min(CN_TIMEOUTS_BEAT_MAX, timeout / 4) when timeout > 0.
 */
cn_timeouts_t cn_timeouts_from_settings(int timeout, int keepalive, int graceful_timeout);

#endif
