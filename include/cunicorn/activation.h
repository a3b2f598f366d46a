/* activation.h - systemd socket activation (the sd_listen_fds protocol).
 *
 * Owns: reading what systemd (or systemd-socket-activate) hands over: the
 * listening sockets as fds 3, 4, ... when $LISTEN_PID is this process,
 * their count in $LISTEN_FDS and names in $LISTEN_FDNAMES; and removing
 * the three variables, so neither the workers nor the app see them.
 * Must not: include Python.h, log, bind or close anything: main() adopts
 * the fds as listeners (cn_listener_open with CN_ADDR_FD), which are never
 * unlinked, since the socket file belongs to the socket unit. */
#ifndef CUNICORN_ACTIVATION_H
#define CUNICORN_ACTIVATION_H

#include "cunicorn/common.h"

#include <stddef.h>

#define CN_ACTIVATION_FIRST_FD 3 /* SD_LISTEN_FDS_START */
#define CN_ACTIVATION_MAX_FDS 64

typedef struct cn_activation {
    int nfds;                             /* fds FIRST_FD .. FIRST_FD + nfds - 1 */
    char names[CN_ACTIVATION_MAX_FDS][64]; /* $LISTEN_FDNAMES, "" where not named */
} cn_activation_t;

/**
 * Take the sockets systemd passed to this process into *out (nfds 0 when
 * there are none, or when $LISTEN_PID names another process: they were
 * meant for a parent). The variables are removed in every case. Returns 0,
 * or -1 with err when they are malformed or name more than MAX_FDS.
 */
int cn_activation_take(cn_activation_t *out, char *err) CN_NODISCARD;

#endif
