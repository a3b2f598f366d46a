/* test_cpus.c - the usable CPU count: cgroup quotas found through fake
 * /proc/self/{cgroup,mountinfo} and cgroup trees (v2 cpu.max, v1
 * cpu.cfs_quota_us, ancestors, a mount that shows a sub-cgroup, the cpuset
 * controller that is not cpu), and the live count's invariants. The live
 * quota path is tested for real by tests/integration/test_cli.py. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "cunicorn/cpus.h"
#include "unit.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[32]; /* /tmp/cn-cpus-XXXXXX */

static void setup(void)
{
    snprintf(root, sizeof(root), "/tmp/cn-cpus-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

/* Each test runs in its own process and its own directory; rm -r is the
 * shortest way to drop the tree. */
static void teardown(void)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* root/path with text, making the directories on the way. */
static void put(const char *path, const char *text)
{
    char full[PATH_MAX];
    FILE *f;
    snprintf(full, sizeof(full), "%s/%s", root, path);
    for (char *p = full + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(full, 0755);
        *p = '/';
    }
    f = fopen(full, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static int limit(long long *q, long long *p)
{
    return cn_cpus_cgroup_limit(root, q, p);
}

#define V2_MOUNT "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"

START_TEST(v2_leaf_and_ancestors)
{
    long long q = 0, p = 0;
    put("proc/self/cgroup", "0::/a/b\n");
    put("proc/self/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" V2_MOUNT);
    put("sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
    ck_assert_int_eq(limit(&q, &p), 0);
    put("sys/fs/cgroup/a/cpu.max", "150000 100000\n"); /* 1.5 CPUs: two started */
    ck_assert_int_eq(limit(&q, &p), 2);
    ck_assert_int_eq(q, 150000);
    ck_assert_int_eq(p, 100000);
    put("sys/fs/cgroup/a/b/cpu.max", "50000 100000\n"); /* the tightest wins */
    ck_assert_int_eq(limit(&q, &p), 1);
    ck_assert_int_eq(q, 50000);
    put("sys/fs/cgroup/cpu.max", "100000 100000\n"); /* the hierarchy root counts too */
    put("sys/fs/cgroup/a/b/cpu.max", "800000 100000\n");
    ck_assert_int_eq(limit(&q, &p), 1);
    ck_assert_int_eq(q, 100000);
}
END_TEST

START_TEST(v2_not_a_quota)
{
    long long q = 0, p = 0;
    static const char *const texts[] = {"garbage", "", "0 100000", "100000 0", "-1 100000", "max"};
    put("proc/self/cgroup", "0::/\n");
    put("proc/self/mountinfo", V2_MOUNT);
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        put("sys/fs/cgroup/cpu.max", texts[i]);
        ck_assert_msg(limit(&q, &p) == 0, "cpu.max '%s' is no quota", texts[i]);
    }
    put("sys/fs/cgroup/cpu.max", "100001 100000");
    ck_assert_int_eq(limit(&q, &p), 2);
    put("sys/fs/cgroup/cpu.max", "1000 100000");
    ck_assert_int_eq(limit(&q, &p), 1);
}
END_TEST

/* The hybrid layout of many hosts (and of this project's CI machine): cpu
 * on a v1 hierarchy, an empty cgroup2 beside it. */
START_TEST(v1_cpu_controller)
{
    long long q = 0, p = 0;
    put("proc/self/cgroup", "4:memory:/m\n3:cpuset:/\n2:cpu,cpuacct:/svc/app\n0::/\n");
    put("proc/self/mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    put("sys/fs/cgroup/cpu,cpuacct/svc/app/cpu.cfs_quota_us", "-1\n");
    put("sys/fs/cgroup/cpu,cpuacct/svc/app/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(limit(&q, &p), 0);
    put("sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_quota_us", "250000\n");
    put("sys/fs/cgroup/cpu,cpuacct/svc/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(limit(&q, &p), 3);
    ck_assert_int_eq(q, 250000);
    /* a cgroup2 quota beside it: the smaller of the two */
    put("sys/fs/cgroup/unified/cpu.max", "100000 100000\n");
    ck_assert_int_eq(limit(&q, &p), 1);
}
END_TEST

START_TEST(cpuset_is_not_cpu)
{
    long long q = 0, p = 0;
    put("proc/self/cgroup", "3:cpuset:/y\n");
    put("proc/self/mountinfo", "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n");
    put("sys/fs/cgroup/cpuset/y/cpu.cfs_quota_us", "100000\n");
    put("sys/fs/cgroup/cpuset/y/cpu.cfs_period_us", "100000\n");
    ck_assert_int_eq(limit(&q, &p), 0);
}
END_TEST

/* A container without its own cgroup namespace: the mount shows the
 * container's cgroup, which /proc/self/cgroup names by its host path. */
START_TEST(mount_shows_a_subtree)
{
    long long q = 0, p = 0;
    put("proc/self/cgroup", "0::/docker/abc\n");
    put("proc/self/mountinfo", "30 23 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n");
    put("sys/fs/cgroup/cpu.max", "200000 100000\n");
    ck_assert_int_eq(limit(&q, &p), 2);
    /* a path outside what the mount shows starts at the mount point */
    put("proc/self/cgroup", "0::/elsewhere/x\n");
    ck_assert_int_eq(limit(&q, &p), 2);
}
END_TEST

START_TEST(nothing_to_read)
{
    long long q = 1, p = 1;
    ck_assert_int_eq(limit(&q, &p), 0); /* no proc, no mounts */
    put("proc/self/cgroup", "0::/a\n");
    ck_assert_int_eq(limit(&q, &p), 0); /* no cgroup mount */
    put("proc/self/mountinfo", V2_MOUNT);
    ck_assert_int_eq(limit(&q, &p), 0); /* no cpu.max files */
    ck_assert_int_eq(q, 0);
}
END_TEST

START_TEST(live_count)
{
    cn_cpus_t c;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cn_cpus_detect(&c);
    ck_assert_int_ge(c.n, 1);
    ck_assert_int_le(c.n, online > 0 ? online : 1);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        ck_assert_int_le(c.n, CPU_COUNT(&set));
    if (c.source == CN_CPUS_CGROUP) {
        ck_assert_int_gt(c.quota_us, 0);
        ck_assert_int_gt(c.period_us, 0);
    }
}
END_TEST

static Suite *cpus_suite(void)
{
    Suite *s = suite_create("cpus");
    TCase *tc = tcase_create("cpus");
    tcase_add_checked_fixture(tc, setup, teardown);
    CN_UNIT_ADD(tc, v2_leaf_and_ancestors, v2_not_a_quota, v1_cpu_controller, cpuset_is_not_cpu,
                mount_shows_a_subtree, nothing_to_read, live_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return cn_unit_run(cpus_suite());
}
