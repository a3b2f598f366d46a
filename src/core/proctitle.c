/* proctitle.c - see proctitle.h.
 *
 * Owns: the original argv/environ string area (borrowed from the kernel's
 * process image). The kernel reports arg_start..arg_end as the command
 * line, and reads on into the environment strings when the byte at arg_end
 * is overwritten: so a title longer than the arguments spills over the old
 * environment, whose strings live on the heap by then. */
#define _GNU_SOURCE
#include "cunicorn/proctitle.h"

#include "cunicorn/common.h"

#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *area;      /* the first argv string, or NULL: titles off */
static size_t area_len; /* bytes of contiguous argv + environ strings */

void cn_proctitle_init(int argc, char **argv)
{
    if (argc <= 0 || argv[0] == NULL)
        return;
    char *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    for (size_t i = 0; i < n; i++)
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;
    /* owned for the life of the process: setenv/getenv and the argument
     * parser read these from now on */
    char **env = cn_xcalloc(n + 1, sizeof(*env));
    for (size_t i = 0; i < n; i++)
        env[i] = cn_xstrdup(environ[i]);
    environ = env;
    area = argv[0];
    area_len = (size_t)(end - argv[0]);
    for (int i = 0; i < argc; i++)
        argv[i] = cn_xstrdup(argv[i]);
}

void cn_proctitle_set(const char *title)
{
    if (area != NULL && area_len > 1) {
        size_t n = strlen(title);
        if (n > area_len - 1)
            n = area_len - 1;
        memcpy(area, title, n);
        memset(area + n, 0, area_len - n);
    }
    prctl(PR_SET_NAME, title, 0, 0, 0);
}
