/* Ending a login's leader: start times from /proc, pidfds checked against them, SIGHUP then
 * SIGKILL, and never a process that merely has the recorded pid. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "leader.h"
#include "testutil.h"

enum child_mode {
	CHILD_DEFAULT,     /* SIGHUP ends it */
	CHILD_IGNORE_HUP,  /* only SIGKILL ends it */
	CHILD_EXIT_ON_GO,  /* exits when the parent closes the go pipe */
};

/* The child of the running test, killed and reaped by the teardown if still there. */
static pid_t child = -1;
static int go_fd = -1;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start a child with the given SIGHUP disposition and name (NULL: inherited); return once
 * it is set up. */
static pid_t spawn(enum child_mode mode, const char *name)
{
	int ready[2], go[2];
	sigset_t all;
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		signal(SIGHUP, mode == CHILD_IGNORE_HUP ? SIG_IGN : SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (name != NULL && prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		close(ready[1]);
		if (mode == CHILD_EXIT_ON_GO) {
			_exit(read(go[0], &c, 1) == 0 ? 0 : 4);
		}
		for (;;)
			pause();
	}
	close(ready[1]);
	close(go[0]);
	child = pid;
	go_fd = go[1];
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

/* The child's wait status once it has ended (blocking). */
static int reap(pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	child = -1;
	return status;
}

static bool still_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0 && kill(pid, 0) == 0;
}

static int teardown(void **state)
{
	(void)state;
	if (child > 0) {
		(void)kill(child, SIGKILL);
		(void)waitpid(child, NULL, 0);
		child = -1;
	}
	if (go_fd >= 0) {
		close(go_fd);
		go_fd = -1;
	}
	return 0;
}

/* Field 22 of /proc/PID/stat read independently: the fields after the last ')'. */
static long long proc_starttime(pid_t pid)
{
	char path[64], *buf, *p;
	long long start = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	buf = tu_read_file(path, NULL);
	assert_non_null(buf);
	p = strrchr(buf, ')');
	assert_non_null(p);
	assert_int_equal(sscanf(p + 1, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
				"%*s %*s %*s %*s %*s %lld", &start), 1);
	free(buf);
	return start;
}

static void test_start_time_self(void **state)
{
	int64_t start = -1;

	(void)state;
	assert_int_equal(leader_start_time(getpid(), &start), 0);
	assert_true(start > 0);
	assert_int_equal(start, proc_starttime(getpid()));
	assert_int_equal(leader_start_time(0, &start), -1);
	assert_int_equal(leader_start_time(-4, &start), -1);
	assert_int_equal(leader_start_time(getpid(), NULL), -1);
}

static void test_comm_with_parentheses(void **state)
{
	static const char *const names[] = {
		"a) b (c",
		") 1 2 3 4 5 6 )", /* would shift every field for a parser that stops at ')' */
		"x)\n(y",
	};
	char path[64], *comm;
	int64_t start = -1;
	pid_t pid;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pid = spawn(CHILD_DEFAULT, names[i]);
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		comm = tu_read_file(path, NULL);
		assert_non_null(comm);
		assert_int_equal(strncmp(comm, names[i], strlen(names[i])), 0);
		free(comm);
		assert_int_equal(leader_start_time(pid, &start), 0);
		assert_int_equal(start, proc_starttime(pid));
		assert_true(start >= proc_starttime(getpid()));
		assert_int_equal(leader_end(pid, start, 5000, NULL), 0);
		assert_true(WIFSIGNALED(reap(pid)));
		close(go_fd);
		go_fd = -1;
	}
}

static void test_end_with_sighup(void **state)
{
	const char *reason = NULL;
	int64_t start = 0, t0;
	pid_t pid = spawn(CHILD_DEFAULT, NULL);
	int status;

	(void)state;
	assert_int_equal(leader_start_time(pid, &start), 0);
	t0 = now_ms();
	assert_int_equal(leader_end(pid, start, 5000, &reason), 0);
	/* it went on SIGHUP: no waiting for the grace period */
	assert_true(now_ms() - t0 < 4000);
	status = reap(pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGHUP);
}

static void test_end_with_sigkill_after_grace(void **state)
{
	const char *reason = NULL;
	int64_t start = 0, t0, took;
	pid_t pid = spawn(CHILD_IGNORE_HUP, NULL);
	int status;

	(void)state;
	assert_int_equal(leader_start_time(pid, &start), 0);
	t0 = now_ms();
	assert_int_equal(leader_end(pid, start, 200, &reason), 0);
	took = now_ms() - t0;
	assert_true(took >= 200);
	assert_true(took < 200 + LEADER_KILL_WAIT_MS);
	status = reap(pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_wrong_start_time_not_signalled(void **state)
{
	const char *reason = NULL;
	int64_t start = 0, t0;
	pid_t pid = spawn(CHILD_DEFAULT, NULL);
	int fd = 1234;

	(void)state;
	assert_int_equal(leader_start_time(pid, &start), 0);
	assert_int_equal(leader_open(pid, start + 1, &fd, &reason), 1);
	assert_int_equal(fd, -1);
	assert_int_equal(leader_open(pid, start - 1, &fd, &reason), 1);
	/* an unknown start time is never guessed */
	assert_int_equal(leader_open(pid, 0, &fd, &reason), 1);
	assert_int_equal(fd, -1);
	/* another process has the pid: nothing to end, and at once */
	t0 = now_ms();
	assert_int_equal(leader_end(pid, start + 1, 200, &reason), 0);
	assert_true(now_ms() - t0 < 200);
	assert_true(still_running(pid));
	/* the right start time: a probe reaches it and leaves it running */
	assert_int_equal(leader_open(pid, start, &fd, &reason), 0);
	assert_true(fd >= 0);
	assert_int_equal(leader_signal(fd, 0, &reason), 0);
	t0 = now_ms();
	assert_int_equal(leader_wait(fd, 50), 1);
	assert_true(now_ms() - t0 >= 50);
	assert_true(still_running(pid));
	close(fd);
}

static void test_exited_and_reaped(void **state)
{
	const char *reason = NULL;
	int64_t start = 0, again = 0;
	pid_t pid = spawn(CHILD_EXIT_ON_GO, NULL);
	int fd = -1, status = 0;

	(void)state;
	assert_int_equal(leader_start_time(pid, &start), 0);
	assert_int_equal(leader_open(pid, start, &fd, &reason), 0);
	close(go_fd);
	go_fd = -1;
	/* exited, not yet reaped: the pidfd says so and no signal is sent */
	assert_int_equal(leader_wait(fd, 5000), 0);
	assert_int_equal(waitid(P_PID, (id_t)pid, NULL, WEXITED | WNOHANG | WNOWAIT), 0);
	assert_int_equal(leader_signal(fd, SIGHUP, &reason), 1);
	assert_int_equal(leader_end(pid, start, 200, &reason), 0);
	status = reap(pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* reaped: the pidfd still says exited; the pid is free */
	assert_int_equal(leader_signal(fd, SIGHUP, &reason), 1);
	assert_int_equal(leader_wait(fd, 0), 0);
	close(fd);
	errno = 0;
	assert_int_equal(leader_start_time(pid, &again), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(leader_open(pid, start, &fd, &reason), 1);
	assert_int_equal(fd, -1);
	assert_int_equal(leader_end(pid, start, 200, &reason), 0);
}

static void test_refused_pids_and_arguments(void **state)
{
	const char *reason = NULL;
	int64_t self = 0;
	int fd = 99;

	(void)state;
	assert_int_equal(leader_start_time(getpid(), &self), 0);
	assert_int_equal(leader_open(getpid(), self, &fd, &reason), -1);
	assert_non_null(reason);
	assert_int_equal(fd, -1);
	assert_int_equal(leader_end(getpid(), self, 10, &reason), -1);
	assert_int_equal(leader_open(1, 1, &fd, &reason), -1);
	assert_int_equal(leader_end(1, 1, 10, &reason), -1);
	assert_int_equal(leader_open(0, 1, &fd, &reason), -1);
	assert_int_equal(leader_open(-1, 1, &fd, &reason), -1);
	assert_int_equal(leader_end(-1, 1, 10, NULL), -1);
	assert_int_equal(leader_open(2, -1, &fd, &reason), -1);
	assert_int_equal(leader_open(2, 1, NULL, &reason), -1);
	assert_int_equal(leader_end(2, 1, -1, &reason), -1);
	assert_int_equal(leader_signal(-1, SIGHUP, &reason), -1);
	assert_int_equal(leader_wait(-1, 0), -1);
	assert_int_equal(leader_wait(0, -1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_time_self),
		cmocka_unit_test_teardown(test_comm_with_parentheses, teardown),
		cmocka_unit_test_teardown(test_end_with_sighup, teardown),
		cmocka_unit_test_teardown(test_end_with_sigkill_after_grace, teardown),
		cmocka_unit_test_teardown(test_wrong_start_time_not_signalled, teardown),
		cmocka_unit_test_teardown(test_exited_and_reaped, teardown),
		cmocka_unit_test(test_refused_pids_and_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
