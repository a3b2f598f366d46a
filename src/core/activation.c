/* activation.c - see activation.h. */
#include "cunicorn/activation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_count(const char *s, long max, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "a:b:c", one name per fd; fewer names than fds leaves the rest "". */
static void split_names(const char *names, cn_activation_t *out)
{
    const char *p = names;
    for (int i = 0; p != NULL && i < out->nfds; i++) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(out->names[i], sizeof(out->names[i]), "%.*s", (int)len, p);
        p = colon ? colon + 1 : NULL;
    }
}

int cn_activation_take(cn_activation_t *out, char *err)
{
    memset(out, 0, sizeof(*out));
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    int rc = 0;
    long owner = 0, n = 0;
    if (fds != NULL) {
        if (pid == NULL || parse_count(pid, 1L << 30, &owner) < 0)
            rc = cn_err(err, "Invalid LISTEN_PID: '%s'", pid ? pid : "");
        else if (parse_count(fds, 1L << 20, &n) < 0)
            rc = cn_err(err, "Invalid LISTEN_FDS: '%s'", fds);
        else if (owner == (long)getpid() && n > CN_ACTIVATION_MAX_FDS)
            rc = cn_err(err, "LISTEN_FDS: %ld sockets, at most %d are supported", n,
                        CN_ACTIVATION_MAX_FDS);
        else if (owner == (long)getpid())
            out->nfds = (int)n;
    }
    if (names != NULL && out->nfds > 0)
        split_names(names, out);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}
