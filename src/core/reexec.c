/* reexec.c - see reexec.h. */
#define _GNU_SOURCE
#include "cunicorn/reexec.h"

#include "cunicorn/buf.h"
#include "cunicorn/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cn_reexec_child(char *const *argv, const char *cwd, pid_t master_pid,
                     const cn_listener_t *listeners, size_t nlisteners)
{
    cn_buf_t fds = CN_BUF_INIT;
    for (size_t i = 0; i < nlisteners; i++) {
        int fd = listeners[i].fd;
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0)
            fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
        cn_buf_appendf(&fds, "%s%d", i ? "," : "", fd);
    }
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", (int)master_pid);
    int rc = setenv("GUNICORN_PID", pid, 1) < 0 ||
                     setenv("GUNICORN_FD", fds.data ? (const char *)fds.data : "", 1) < 0
                 ? -1
                 : 0;
    cn_buf_free(&fds);
    if (rc < 0) {
        cn_log_error("Cannot re-exec: %s", strerror(errno));
        return;
    }
    if (cwd != NULL && chdir(cwd) < 0)
        cn_log_warning("Re-exec: cannot go back to %s: %s", cwd, strerror(errno));
    execvp(argv[0], argv);
    cn_log_error("Cannot re-exec %s: %s", argv[0], strerror(errno));
}

int cn_reexec_inherited(char specs[][32], size_t max, pid_t *old_master, char *err)
{
    const char *fds = getenv("GUNICORN_FD");
    const char *pid = getenv("GUNICORN_PID");
    *old_master = 0;
    if (fds == NULL)
        return 0;
    size_t n = 0;
    for (const char *p = fds; *p != '\0';) {
        char *end;
        long fd = strtol(p, &end, 10);
        if (end == p || fd < 0 || fd > 1 << 20 || (*end != ',' && *end != '\0') || n == max)
            return cn_err(err, "Invalid GUNICORN_FD: '%s'", fds);
        snprintf(specs[n++], sizeof(specs[0]), "fd://%ld", fd);
        p = *end == ',' ? end + 1 : end;
    }
    if (pid != NULL) {
        char *end;
        long v = strtol(pid, &end, 10);
        if (end == pid || *end != '\0' || v <= 1)
            return cn_err(err, "Invalid GUNICORN_PID: '%s'", pid);
        *old_master = (pid_t)v;
    }
    unsetenv("GUNICORN_FD");
    unsetenv("GUNICORN_PID");
    return (int)n;
}
