/* daemon.c - see daemon.h. */
#include "cunicorn/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fork; the parent leaves at once, without running atexit handlers or
 * flushing stdio buffers the child also holds. */
static int fork_and_leave(char *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return cn_err(err, "cannot daemonize: fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    return 0;
}

int cn_daemonize(bool keep_stdio, char *err)
{
    if (fork_and_leave(err) < 0)
        return -1;
    if (setsid() < 0)
        return cn_err(err, "cannot daemonize: setsid: %s", strerror(errno));
    if (fork_and_leave(err) < 0)
        return -1;
    umask(022);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return cn_err(err, "cannot daemonize: /dev/null: %s", strerror(errno));
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
        if (fd == STDIN_FILENO || !keep_stdio)
            dup2(null, fd); /* dup2 clears O_CLOEXEC on the copy */
    close(null);
    return 0;
}
