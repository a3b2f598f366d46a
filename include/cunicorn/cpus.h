/* cpus.h - how many CPUs this process may really use.
 *
 * Owns: the online CPU count, the scheduler affinity mask and the cgroup CPU
 * quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) of the
 * process's own cgroup and every ancestor, found through /proc/self/mountinfo
 * and /proc/self/cgroup, so a container or a systemd unit with CPUQuota= gets
 * the workers its quota pays for.
 * Must not: print, or fail: whatever cannot be read limits nothing. */
#ifndef CUNICORN_CPUS_H
#define CUNICORN_CPUS_H

/* What decided the count: the narrowest of the three limits. */
enum cn_cpus_source {
    CN_CPUS_ONLINE,   /* sysconf(_SC_NPROCESSORS_ONLN) */
    CN_CPUS_AFFINITY, /* sched_getaffinity allows fewer (taskset, cpuset) */
    CN_CPUS_CGROUP,   /* a cgroup CPU quota allows fewer still */
};

typedef struct cn_cpus {
    int n; /* usable CPUs, >= 1 */
    enum cn_cpus_source source;
    long long quota_us; /* the limiting quota, when source is CN_CPUS_CGROUP */
    long long period_us;
} cn_cpus_t;

/** Usable CPUs of this process: online, narrowed by the affinity mask, then
 * by the cgroup quota (quota / period, rounded up). Reads the live system. */
void cn_cpus_detect(cn_cpus_t *out);

/**
 * The cgroup part alone: the fewest CPUs any quota on the path from the
 * process's cgroup to its hierarchy's root allows (v1 and v2 alike), with
 * that quota in *quota_us / *period_us; 0 when there is none. Every path read
 * is prefixed with root ("" for the real system, a directory holding a fake
 * proc/ and sys/ tree in tests).
 */
int cn_cpus_cgroup_limit(const char *root, long long *quota_us, long long *period_us);

#endif
