/* cpus.c - how many CPUs this process may really use (cpus.h).
 *
 * The quota is looked up the way the kernel applies it: /proc/self/cgroup
 * names the process's cgroup in each hierarchy, /proc/self/mountinfo says
 * where that hierarchy is mounted and which cgroup the mount shows, and every
 * cgroup from the process's own up to the mount holds a quota that limits it
 * (a container's quota usually sits on an ancestor of the process's cgroup,
 * a systemd CPUQuota= on the unit's own). Both cgroup v2 (cpu.max) and v1
 * (cpu.cfs_quota_us) are read: hosts with the hybrid layout still put the
 * cpu controller on v1.
 * Must not: print, or fail: whatever cannot be read limits nothing. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, getline */
#include "cunicorn/cpus.h"

#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One cgroup hierarchy that may hold a CPU quota for this process. */
typedef struct hierarchy {
    bool found;           /* mounted, and the process has a cgroup in it */
    char path[PATH_MAX];  /* the process's cgroup, from /proc/self/cgroup */
    char mount[PATH_MAX]; /* mount point, root prefix included */
    char shown[PATH_MAX]; /* the cgroup the mount shows at its mount point */
} hierarchy_t;

/* The tightest quota seen so far. */
typedef struct limit {
    int cpus; /* 0: none yet */
    long long quota_us, period_us;
} limit_t;

static int quota_cpus(long long quota_us, long long period_us);
static bool has_token(const char *list, const char *token);
static void read_own_cgroups(const char *root, hierarchy_t *v2, hierarchy_t *v1);
static void read_mounts(const char *root, hierarchy_t *v2, hierarchy_t *v1);
static bool read_text(const char *dir, const char *file, char *buf, size_t len);
static void quota_at(const char *dir, bool v2, limit_t *lim);
static void walk_up(const hierarchy_t *h, bool v2, limit_t *lim);
static void narrow(cn_cpus_t *out, int online, int affinity, const limit_t *lim);

/* ceil(quota / period): a quota of 1.5 CPUs keeps two CPUs busy part-time,
 * and one worker pair per started CPU is what the default formula wants. */
static int quota_cpus(long long quota_us, long long period_us)
{
    long long n;
    if (quota_us <= 0 || period_us <= 0)
        return 0;
    n = (quota_us + period_us - 1) / period_us;
    return n > INT_MAX ? INT_MAX : (int)n;
}

/* token is one of the comma-separated words of list */
static bool has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list;; p++) {
        if (strncmp(p, token, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
        if ((p = strchr(p, ',')) == NULL)
            return false;
    }
}

/* /proc/self/cgroup lines are "ID:CONTROLLERS:PATH"; v2's is "0::PATH". */
static void read_own_cgroups(const char *root, hierarchy_t *v2, hierarchy_t *v1)
{
    char file[PATH_MAX], *line = NULL, *ctl, *path;
    size_t cap = 0;
    FILE *f;

    snprintf(file, sizeof(file), "%s/proc/self/cgroup", root);
    if ((f = fopen(file, "r")) == NULL)
        return;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if ((ctl = strchr(line, ':')) == NULL || (path = strchr(ctl + 1, ':')) == NULL)
            continue;
        *ctl++ = '\0';
        *path++ = '\0';
        if (strcmp(line, "0") == 0 && *ctl == '\0')
            snprintf(v2->path, sizeof(v2->path), "%s", path);
        else if (has_token(ctl, "cpu"))
            snprintf(v1->path, sizeof(v1->path), "%s", path);
    }
    free(line);
    fclose(f);
}

/* mountinfo: "ID PARENT MAJ:MIN SHOWN MOUNTPOINT OPTS [TAGS...] - FSTYPE SRC SUPEROPTS".
 * The first cgroup2 mount, and the first v1 mount with the cpu controller. */
static void read_mounts(const char *root, hierarchy_t *v2, hierarchy_t *v1)
{
    char file[PATH_MAX], shown[PATH_MAX], mnt[PATH_MAX], fstype[32], *line = NULL, *sep;
    char *opts = NULL;
    size_t cap = 0;
    hierarchy_t *h;
    FILE *f;

    snprintf(file, sizeof(file), "%s/proc/self/mountinfo", root);
    if ((f = fopen(file, "r")) == NULL)
        return;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        sep = strstr(line, " - ");
        free(opts);
        opts = NULL;
        if (sep == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s", shown, mnt) != 2 ||
            sscanf(sep + 3, "%31s %*s %ms", fstype, &opts) != 2)
            continue;
        if (strcmp(fstype, "cgroup2") == 0)
            h = v2;
        else if (strcmp(fstype, "cgroup") == 0 && has_token(opts, "cpu"))
            h = v1;
        else
            continue;
        if (h->found || h->path[0] == '\0')
            continue;
        h->found = true;
        snprintf(h->mount, sizeof(h->mount), "%s%s", root, mnt);
        snprintf(h->shown, sizeof(h->shown), "%s", shown);
    }
    free(opts);
    free(line);
    fclose(f);
}

static bool read_text(const char *dir, const char *file, char *buf, size_t len)
{
    char path[PATH_MAX * 2];
    FILE *f;
    bool ok;

    int n = snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(path) || (f = fopen(path, "r")) == NULL)
        return false;
    ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok;
}

/* The quota of one cgroup directory, if tighter than lim's. */
static void quota_at(const char *dir, bool v2, limit_t *lim)
{
    char a[64], b[64];
    long long quota = 0, period = 0;
    int cpus;

    if (v2) {
        if (!read_text(dir, "cpu.max", a, sizeof(a)) ||
            sscanf(a, "%lld %lld", &quota, &period) != 2)
            return; /* "max 100000": no quota */
    } else {
        if (!read_text(dir, "cpu.cfs_quota_us", a, sizeof(a)) ||
            !read_text(dir, "cpu.cfs_period_us", b, sizeof(b)))
            return;
        quota = strtoll(a, NULL, 10); /* -1: none */
        period = strtoll(b, NULL, 10);
    }
    cpus = quota_cpus(quota, period);
    if (cpus > 0 && (lim->cpus == 0 || cpus < lim->cpus))
        *lim = (limit_t){cpus, quota, period};
}

/* From the process's cgroup up to the one the mount shows. A path outside
 * what the mount shows (a container without its own cgroup namespace that
 * mounts only its own cgroup) starts at the mount point itself. */
static void walk_up(const hierarchy_t *h, bool v2, limit_t *lim)
{
    char rel[PATH_MAX], dir[PATH_MAX * 2], *slash;
    size_t n = strlen(h->shown);

    if (strcmp(h->shown, "/") == 0)
        snprintf(rel, sizeof(rel), "%s", h->path);
    else if (strncmp(h->path, h->shown, n) == 0 && (h->path[n] == '/' || h->path[n] == '\0'))
        snprintf(rel, sizeof(rel), "%s", h->path + n);
    else
        rel[0] = '\0';
    for (;;) {
        snprintf(dir, sizeof(dir), "%s%s", h->mount, rel);
        quota_at(dir, v2, lim);
        if ((slash = strrchr(rel, '/')) == NULL)
            break;
        *slash = '\0';
    }
}

int cn_cpus_cgroup_limit(const char *root, long long *quota_us, long long *period_us)
{
    hierarchy_t v2 = {0}, v1 = {0};
    limit_t lim = {0};

    read_own_cgroups(root, &v2, &v1);
    read_mounts(root, &v2, &v1);
    if (v2.found)
        walk_up(&v2, true, &lim);
    if (v1.found)
        walk_up(&v1, false, &lim);
    *quota_us = lim.quota_us;
    *period_us = lim.period_us;
    return lim.cpus;
}

/* Each limit counts only where it allows fewer CPUs than the ones before, so
 * source names what a user would have to change to get more workers. */
static void narrow(cn_cpus_t *out, int online, int affinity, const limit_t *lim)
{
    *out = (cn_cpus_t){.n = online > 0 ? online : 1, .source = CN_CPUS_ONLINE};
    if (affinity > 0 && affinity < out->n) {
        out->n = affinity;
        out->source = CN_CPUS_AFFINITY;
    }
    if (lim->cpus > 0 && lim->cpus < out->n) {
        out->n = lim->cpus;
        out->source = CN_CPUS_CGROUP;
        out->quota_us = lim->quota_us;
        out->period_us = lim->period_us;
    }
}

void cn_cpus_detect(cn_cpus_t *out)
{
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
    limit_t lim = {0};

    lim.cpus = cn_cpus_cgroup_limit("", &lim.quota_us, &lim.period_us);
    narrow(out, online > INT_MAX ? INT_MAX : (int)online, affinity, &lim);
}
