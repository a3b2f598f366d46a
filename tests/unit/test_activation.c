/* test_activation.c - the sd_listen_fds protocol: which sockets are ours,
 * their names, bad variables refused, and the variables always removed. */
#include "cunicorn/activation.h"

#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void set_env(const char *pid, const char *fds, const char *names)
{
    char own[16];
    snprintf(own, sizeof(own), "%d", (int)getpid());
    setenv("LISTEN_PID", pid ? pid : own, 1);
    setenv("LISTEN_FDS", fds, 1);
    if (names != NULL)
        setenv("LISTEN_FDNAMES", names, 1);
}

static void assert_env_cleared(void)
{
    ck_assert_ptr_null(getenv("LISTEN_PID"));
    ck_assert_ptr_null(getenv("LISTEN_FDS"));
    ck_assert_ptr_null(getenv("LISTEN_FDNAMES"));
}

START_TEST(none_passed)
{
    cn_activation_t a;
    char err[CN_ERR_LEN] = "";
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    ck_assert_int_eq(cn_activation_take(&a, err), 0);
    ck_assert_int_eq(a.nfds, 0);
}
END_TEST

START_TEST(ours_with_names)
{
    cn_activation_t a;
    char err[CN_ERR_LEN] = "";
    set_env(NULL, "3", "web:admin:extra");
    ck_assert_msg(cn_activation_take(&a, err) == 0, "%s", err);
    ck_assert_int_eq(a.nfds, 3);
    ck_assert_str_eq(a.names[0], "web");
    ck_assert_str_eq(a.names[1], "admin");
    ck_assert_str_eq(a.names[2], "extra");
    assert_env_cleared();

    set_env(NULL, "2", "only"); /* fewer names than sockets */
    ck_assert_int_eq(cn_activation_take(&a, err), 0);
    ck_assert_int_eq(a.nfds, 2);
    ck_assert_str_eq(a.names[0], "only");
    ck_assert_str_eq(a.names[1], "");
}
END_TEST

/* A parent's sockets ($LISTEN_PID is another process): not ours, but the
 * variables still go, so the workers and the app never see them. */
START_TEST(meant_for_another_process)
{
    cn_activation_t a;
    char err[CN_ERR_LEN] = "", other[16];
    snprintf(other, sizeof(other), "%d", (int)getppid());
    set_env(other, "2", "web");
    ck_assert_int_eq(cn_activation_take(&a, err), 0);
    ck_assert_int_eq(a.nfds, 0);
    assert_env_cleared();
}
END_TEST

START_TEST(malformed_refused)
{
    static const char *const bad[][2] = {
        {"12x", "1"}, {"", "1"}, {NULL, "-1"}, {NULL, "two"}, {NULL, ""}, {NULL, "65"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cn_activation_t a;
        char err[CN_ERR_LEN] = "";
        set_env(bad[i][0], bad[i][1], NULL);
        ck_assert_int_eq(cn_activation_take(&a, err), -1);
        ck_assert_msg(strstr(err, "LISTEN_") != NULL, "%s", err);
        ck_assert_int_eq(a.nfds, 0);
        assert_env_cleared();
    }
    unsetenv("LISTEN_PID"); /* LISTEN_FDS without LISTEN_PID */
    setenv("LISTEN_FDS", "1", 1);
    cn_activation_t a;
    char err[CN_ERR_LEN] = "";
    ck_assert_int_eq(cn_activation_take(&a, err), -1);
    ck_assert_str_eq(err, "Invalid LISTEN_PID: ''");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("take");
    CN_UNIT_ADD(tc, none_passed, ours_with_names, meant_for_another_process, malformed_refused);
    suite_add_tcase(s, tc);
    return cn_unit_run(s);
}
