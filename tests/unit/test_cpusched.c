/* test_cpusched: CPU_SCHED_POLICY read from the environment and set on the calling thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpusched.h"
#include "log.h"

static void set_policy(int policy) {
    struct sched_param none = {.sched_priority = 0};
    assert_int_equal(sched_setscheduler(0, policy, &none), 0);
}

static void default_is_batch(void **state) {
    (void)state;
    err_t e;
    set_policy(SCHED_OTHER);
    unsetenv("CPU_SCHED_POLICY");
    assert_int_equal(cpusched_configure_env(&e), AGG_OK);
    assert_int_equal(sched_getscheduler(0), SCHED_BATCH);
    setenv("CPU_SCHED_POLICY", "", 1); /* empty counts as unset */
    set_policy(SCHED_OTHER);
    assert_int_equal(cpusched_configure_env(&e), AGG_OK);
    assert_int_equal(sched_getscheduler(0), SCHED_BATCH);
    unsetenv("CPU_SCHED_POLICY");
}

static void normal_undoes_an_inherited_batch(void **state) {
    (void)state;
    err_t e;
    set_policy(SCHED_BATCH);
    setenv("CPU_SCHED_POLICY", "normal", 1);
    assert_int_equal(cpusched_configure_env(&e), AGG_OK);
    assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
    unsetenv("CPU_SCHED_POLICY");
}

static void bad_values_are_refused_and_change_nothing(void **state) {
    (void)state;
    const char *bad[] = {"Batch", "fifo", "batch ", "idle", "3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err_t e;
        set_policy(SCHED_OTHER);
        setenv("CPU_SCHED_POLICY", bad[i], 1);
        assert_int_equal(cpusched_configure_env(&e), AGG_ERR);
        assert_non_null(strstr(e.text, "CPU_SCHED_POLICY"));
        assert_int_equal(sched_getscheduler(0), SCHED_OTHER);
        cpusched_policy p = CPUSCHED_NORMAL;
        assert_int_equal(cpusched_parse(bad[i], &p, &e), AGG_ERR);
        assert_int_equal(p, CPUSCHED_NORMAL);
    }
    unsetenv("CPU_SCHED_POLICY");
}

static void parse_knows_both_names(void **state) {
    (void)state;
    err_t e;
    cpusched_policy p = CPUSCHED_NORMAL;
    assert_int_equal(cpusched_parse(NULL, &p, &e), AGG_OK);
    assert_int_equal(p, CPUSCHED_BATCH);
    assert_int_equal(cpusched_parse("normal", &p, &e), AGG_OK);
    assert_int_equal(p, CPUSCHED_NORMAL);
    assert_int_equal(cpusched_parse("batch", &p, &e), AGG_OK);
    assert_int_equal(p, CPUSCHED_BATCH);
}

static int warned;
static void count_warnings(const char *line, size_t len, void *arg) {
    (void)arg;
    if (memmem(line, len, "CPU_SCHED_POLICY", 16) && memmem(line, len, "refused", 7)) warned++;
}

/* In a child, a seccomp filter makes sched_setscheduler fail with EPERM, as a strict container
 * profile would: the call still succeeds, warns, and the policy stays the inherited one. */
static void a_refusing_kernel_gives_a_warning_not_an_error(void **state) {
    (void)state;
    set_policy(SCHED_OTHER);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_setscheduler, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            _exit(10);
        log_set_sink(count_warnings, NULL);
        err_t e;
        unsetenv("CPU_SCHED_POLICY");
        if (cpusched_configure_env(&e) != AGG_OK) _exit(11);
        if (sched_getscheduler(0) != SCHED_OTHER) _exit(12);
        _exit(warned == 1 ? 0 : 13);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_is_batch),
        cmocka_unit_test(normal_undoes_an_inherited_batch),
        cmocka_unit_test(bad_values_are_refused_and_change_nothing),
        cmocka_unit_test(parse_knows_both_names),
        cmocka_unit_test(a_refusing_kernel_gives_a_warning_not_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
