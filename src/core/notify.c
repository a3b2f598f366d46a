/* notify.c - see notify.h. */
#include "cunicorn/notify.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE 1024
#define EXTEND_EVERY_S 1
#define EXTEND_USEC 10000000ull /* > EXTEND_EVERY_S: a late tick is not a timeout */

/* cn_notify_extend_start's thread, the address it sends to (read before
 * it starts: getenv is not safe beside the app's os.environ changes), and
 * how stop tells it to end. */
static struct {
    struct sockaddr_un to;
    socklen_t to_len;
    pthread_t thread;
    bool running;
    bool stop;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} extender = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

bool cn_notify_enabled(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    return path != NULL && path[0] != '\0';
}

/* $NOTIFY_SOCKET as a socket address; '@' is the abstract namespace's NUL. */
static int notify_address(struct sockaddr_un *sun, socklen_t *len)
{
    const char *path = getenv("NOTIFY_SOCKET");
    size_t n = path ? strlen(path) : 0;
    if (n < 2 || n >= sizeof(sun->sun_path) || (path[0] != '/' && path[0] != '@')) {
        errno = EINVAL;
        return -1;
    }
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    if (path[0] == '@')
        sun->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    return 0;
}

static int send_message(const struct sockaddr_un *to, socklen_t len, const char *msg)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    size_t size = strlen(msg);
    ssize_t sent;
    do
        sent = sendto(fd, msg, size, MSG_NOSIGNAL, (const struct sockaddr *)to, len);
    while (sent < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    errno = e;
    return sent == (ssize_t)size ? 0 : -1;
}

int cn_notify(const char *fmt, ...)
{
    if (!cn_notify_enabled())
        return 0;
    char msg[MAX_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sockaddr_un to;
    socklen_t len;
    if (n < 0 || notify_address(&to, &len) < 0)
        return -1;
    return send_message(&to, len, msg);
}

double cn_notify_watchdog_period(pid_t also)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    char *end;
    if (usec == NULL)
        return 0;
    unsigned long long v = strtoull(usec, &end, 10);
    if (end == usec || *end != '\0' || v == 0)
        return 0;
    if (pid != NULL) {
        long p = strtol(pid, &end, 10);
        if (end == pid || *end != '\0' || (p != (long)getpid() && (also == 0 || p != (long)also)))
            return 0;
    }
    return (double)v / 1e6;
}

static void *extend_loop(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&extender.lock);
    while (!extender.stop) {
        char msg[96];
        snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu\nSTATUS=Loading the application",
                 EXTEND_USEC);
        (void)send_message(&extender.to, extender.to_len, msg);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += EXTEND_EVERY_S;
        while (!extender.stop &&
               pthread_cond_timedwait(&extender.wake, &extender.lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&extender.lock);
    return NULL;
}

void cn_notify_extend_start(void)
{
    if (!cn_notify_enabled() || extender.running ||
        notify_address(&extender.to, &extender.to_len) < 0)
        return;
    extender.stop = false;
    sigset_t all, old; /* the master's signals stay the main thread's */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    extender.running = pthread_create(&extender.thread, NULL, extend_loop, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void cn_notify_extend_stop(void)
{
    if (!extender.running)
        return;
    pthread_mutex_lock(&extender.lock);
    extender.stop = true;
    pthread_cond_signal(&extender.wake);
    pthread_mutex_unlock(&extender.lock);
    pthread_join(extender.thread, NULL);
    extender.running = false;
}

unsigned long long cn_notify_monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u;
}
