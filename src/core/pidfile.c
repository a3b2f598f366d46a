/* pidfile.c - create, validate, rename and remove the master's pidfile.
 *
 * Owns: the pidfile on disk while pf->pid is set. The file is written to a
 * temporary name in the target directory and renamed, so a reader never sees
 * a partial number (Gunicorn's pidfile.py does the same with mkstemp).
 * Must not: log, exit, or remove a file that holds another process's pid. */
#define _GNU_SOURCE
#include "cunicorn/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_pid(const char *path, pid_t *out);
static int dir_of(const char *path, char *dir, size_t dirlen);
static int write_tmp_and_rename(const char *dir, const char *path, pid_t pid, char *err);

/* 1 + *out on a number, 0 when there is no usable number, -errno on error. */
static int read_pid(const char *path, pid_t *out)
{
    char buf[32];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0)
        return -saved;
    size_t len = (size_t)n;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ' || buf[len - 1] == '\r'))
        len--;
    uint64_t v;
    if (cn_parse_uint(buf, len, INT32_MAX, &v) != 0 || v == 0)
        return 0;
    *out = (pid_t)v;
    return 1;
}

int cn_pidfile_validate(const char *path)
{
    pid_t pid = 0;
    int rc = read_pid(path, &pid);
    if (rc <= 0)
        return rc;
    if (kill(pid, 0) == 0 || errno == EPERM)
        return (int)pid;
    return 0;
}

/* Directory part of path ("." when there is none). */
static int dir_of(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return snprintf(dir, dirlen, ".") < (int)dirlen ? 0 : -1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dirlen)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

static int write_tmp_and_rename(const char *dir, const char *path, pid_t pid, char *err)
{
    char tmp[PATH_MAX];
    char line[32];
    int rc = -1;
    if (snprintf(tmp, sizeof(tmp), "%s/.cunicorn-pid.XXXXXX", dir) >= (int)sizeof(tmp))
        return cn_err(err, "pidfile path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = -errno;
        cn_err(err, "cannot create pidfile in %s: %s", dir, strerror(errno));
        return rc;
    }
    int n = snprintf(line, sizeof(line), "%d\n", (int)pid);
    errno = 0;
    if (write(fd, line, (size_t)n) != n || fchmod(fd, 0644) != 0 || rename(tmp, path) != 0) {
        rc = errno ? -errno : -EIO;
        cn_err(err, "cannot write pidfile %s: %s", path, strerror(-rc));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

int cn_pidfile_create(cn_pidfile_t *pf, const char *path, pid_t pid, char *err)
{
    char dir[PATH_MAX];
    struct stat st;
    if (strlen(path) >= sizeof(pf->path) || dir_of(path, dir, sizeof(dir)) != 0)
        return cn_err(err, "pidfile path too long: %s", path);
    int old = cn_pidfile_validate(path);
    if (old < 0) {
        cn_err(err, "cannot read pidfile %s: %s", path, strerror(-old));
        return old;
    }
    if (old > 0 && (pid_t)old == getpid()) {
        snprintf(pf->path, sizeof(pf->path), "%s", path);
        pf->pid = pid;
        return 0;
    }
    if (old > 0)
        return cn_err(err, "Already running on PID %d (or pid file '%s' is stale)", old, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cn_err(err, "%s doesn't exist. Can't create pidfile.", dir);
    int rc = write_tmp_and_rename(dir, path, pid, err);
    if (rc != 0)
        return rc;
    snprintf(pf->path, sizeof(pf->path), "%s", path);
    pf->pid = pid;
    return 0;
}

int cn_pidfile_rename(cn_pidfile_t *pf, const char *path, char *err)
{
    pid_t pid = pf->pid;
    cn_pidfile_unlink(pf);
    return cn_pidfile_create(pf, path, pid, err);
}

void cn_pidfile_unlink(cn_pidfile_t *pf)
{
    pid_t held = 0;
    if (pf->pid != 0 && pf->path[0] != '\0' && read_pid(pf->path, &held) == 1 && held == pf->pid)
        unlink(pf->path);
    pf->pid = 0;
    pf->path[0] = '\0';
}
