/* unit.h - what every Check executable in tests/unit shares. */
#ifndef CN_TESTS_UNIT_H
#define CN_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/* Run every test of s, each in its own process (a crash fails one test and
 * no state leaks between tests), and return main's exit status. */
static inline int cn_unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Add tests (the names START_TEST defined) to a test case, in order. */
#define CN_UNIT_ADD(tcase, ...)                                                                    \
    do {                                                                                           \
        const TTest *tests_[] = {__VA_ARGS__};                                                     \
        for (size_t i_ = 0; i_ < sizeof(tests_) / sizeof(tests_[0]); i_++)                         \
            tcase_add_test((tcase), tests_[i_]);                                                   \
    } while (0)

#endif
