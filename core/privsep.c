/* Work that must not be stopped by the invoking user: a detached, fully-root child. */
#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the child sends back through the pipe, followed by the ctx bytes. */
struct privsep_report {
	int rc;
	struct verdict v;
};

/* The child's exit status (for a reader of strace; the parent goes by the report). */
enum child_exit {
	CHILD_REPORTED = 0,
	CHILD_SETUP_FAILED = 1, /* could not get out of the user's reach: fn did not run */
	CHILD_TOO_LATE = 2,     /* held up before it got out of reach: fn did not run */
	CHILD_WRITE_FAILED = 3, /* fn ran; the parent has gone */
};

/* The root cgroup's member list in each hierarchy where a user may have been delegated a
 * cgroup that can freeze its processes: cgroup v2 (alone, or beside v1 in the hybrid
 * layout) and the v1 freezer. */
static const char *const root_cgroup_procs[] = {
	"/sys/fs/cgroup/cgroup.procs",
	"/sys/fs/cgroup/unified/cgroup.procs",
	"/sys/fs/cgroup/freezer/cgroup.procs",
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done == len ? 0 : -1;
}

bool privsep_needed(void)
{
	uid_t ruid, euid, suid;

	return getresuid(&ruid, &euid, &suid) != 0 || ruid != 0 || euid != 0 || suid != 0;
}

/* ---- the child ------------------------------------------------------------------------ */

/* Every disposition back to the default, SIGPIPE ignored (a report to a parent that has
 * gone fails with EPIPE). Going through SIG_IGN first discards whatever the user queued
 * while the child still had their uid: all signals are blocked from before the fork until
 * the end of child_detach. sigaction fails for SIGKILL, SIGSTOP and the signals the C
 * library keeps for itself; those need no reset. */
static void reset_signals(void)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		sa.sa_handler = SIG_IGN;
		(void)sigaction(sig, &sa, NULL);
		sa.sa_handler = sig == SIGPIPE ? SIG_IGN : SIG_DFL;
		(void)sigaction(sig, &sa, NULL);
	}
}

/* A user with a cgroup of their own (systemd delegates each user's user@UID.service
 * subtree to that user, and desktop terminals run in it, so sudo typed there does too) can
 * freeze every process in it (cgroup.freeze, or freezer.state in v1), kill them
 * (cgroup.kill) or starve them (cpu.max, memory.high), and kill(2)'s permission check does
 * not apply to any of that. The child inherits sudo's cgroup, so it moves itself to the
 * root cgroup, which only root controls. Best effort: there may be no such hierarchy (then
 * there is nothing to escape from), or a container may forbid the move. Done before fn
 * runs: until then the child holds nothing that others wait for. */
static void leave_user_cgroup(void)
{
	char pid[24];
	size_t i;
	int fd, len;

	len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	for (i = 0; i < sizeof(root_cgroup_procs) / sizeof(root_cgroup_procs[0]); i++) {
		fd = open(root_cgroup_procs[i], O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		(void)write_all(fd, pid, (size_t)len);
		close(fd);
	}
}

/* The user chose sudo's scheduling (nice 19, SCHED_IDLE, one busy CPU, a long timer
 * slack), and a child holding the lock must not crawl under it: back to the defaults,
 * on every CPU its cgroup allows. Best effort. */
static void reset_scheduling(void)
{
	struct sched_param sp = { .sched_priority = 0 };
	cpu_set_t all;
	int cpu;

	(void)sched_setscheduler(0, SCHED_OTHER, &sp);
	(void)setpriority(PRIO_PROCESS, 0, 0);
	CPU_ZERO(&all);
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		CPU_SET(cpu, &all);
	(void)sched_setaffinity(0, sizeof(all), &all);
	(void)prctl(PR_SET_TIMERSLACK, 0, 0, 0, 0);
}

/* Get out of the user's reach: a session of our own (no controlling terminal, so no
 * SIGTSTP or SIGINT from the keyboard and no SIGHUP at hangup), all uids and gids 0 (so
 * kill(2) from any non-root uid fails with EPERM, SIGCONT within a session included), not
 * dumpable (no ptrace), default signal handling, no CPU time or file size limit (the user
 * set sudo's limits: SIGXCPU or SIGXFSZ could end a transaction half done), default
 * scheduling, the root cgroup. -1 when any of the required steps fails. */
static int child_detach(void)
{
	const struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	sigset_t none;
	int rc = -1;

	if (setsid() < 0 || setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 ||
	    setresuid(0, 0, 0) != 0)
		goto out;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		goto out;
	reset_signals();
	if (setrlimit(RLIMIT_CPU, &unlimited) != 0 || setrlimit(RLIMIT_FSIZE, &unlimited) != 0)
		goto out;
	leave_user_cgroup();
	reset_scheduling();
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

/* The child: detach, run fn, report, exit. Never returns into the caller, never runs
 * atexit handlers or flushes stdio buffers of the parent's. */
static void __attribute__((noreturn))
child_main(int fd, int64_t forked_ms, int (*fn)(void *ctx, struct verdict *v), void *ctx,
	   size_t ctx_size, struct verdict *v)
{
	struct privsep_report rep;
	enum child_exit status = CHILD_SETUP_FAILED;

	if (child_detach() != 0)
		goto out;
	/* Stopped or frozen by the user before it got out of reach, it may come back long
	 * after its caller gave up: then the work must not happen at all. */
	status = CHILD_TOO_LATE;
	if (monotonic_ms() - forked_ms > PRIVSEP_START_MS)
		goto out;
	memset(&rep, 0, sizeof(rep));
	rep.rc = fn(ctx, v);
	rep.v = *v;
	status = CHILD_WRITE_FAILED;
	if (write_all(fd, &rep, sizeof(rep)) != 0 ||
	    (ctx_size > 0 && write_all(fd, ctx, ctx_size) != 0))
		goto out;
	status = CHILD_REPORTED;
out:
	_exit((int)status);
}

/* ---- the parent ----------------------------------------------------------------------- */

/* Read exactly len bytes before deadline_ms (CLOCK_MONOTONIC). 0, or -1 on end of file,
 * error or time out. Data already there is read even when the time is up (the caller
 * may have been stopped past the deadline while the child finished). */
static int read_report(int fd, unsigned char *buf, size_t len, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int64_t left;
	size_t got = 0;
	ssize_t n;
	int ready;

	while (got < len) {
		left = deadline_ms - monotonic_ms();
		if (left < 0)
			left = 0;
		ready = poll(&pfd, 1, (int)left);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			break;
		n = read(fd, buf + got, len - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == len ? 0 : -1;
}

/* Collect the child; one that did not report is killed first. SIGCHLD is blocked, so a
 * child that waitpid shows as still running cannot have been reaped and its pid taken
 * over. ECHILD (SIGCHLD ignored, or a handler in another thread reaped it) is fine. */
static void reap_child(pid_t pid, bool kill_it)
{
	int status;
	pid_t r;

	if (kill_it && waitpid(pid, &status, WNOHANG) == 0)
		(void)kill(pid, SIGKILL);
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
}

int privsep_run(int (*fn)(void *ctx, struct verdict *v), void *ctx, size_t ctx_size,
		struct verdict *v)
{
	const char *reason = "invalid store helper call";
	struct privsep_report rep;
	sigset_t all, saved, held;
	unsigned char *buf = NULL;
	int fds[2] = { -1, -1 };
	int64_t forked_ms;
	bool masked = false, done = false, reported;
	size_t len;
	pid_t pid;
	int rc = -1;

	if (fn == NULL || v == NULL || (ctx == NULL && ctx_size > 0) ||
	    ctx_size > PRIVSEP_CTX_MAX)
		goto out;
	if (!privsep_needed() || geteuid() != 0) {
		rc = fn(ctx, v);
		done = true;
		goto out;
	}
	reason = "cannot start the store helper process";
	len = sizeof(rep) + ctx_size;
	buf = malloc(len);
	if (buf == NULL || pipe2(fds, O_CLOEXEC) != 0)
		goto out;
	/* The child starts with every signal blocked: none of the application's handlers runs
	 * in it, and nothing the user sends it before it is out of reach gets through. */
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, &saved) != 0)
		goto out;
	masked = true;
	forked_ms = monotonic_ms();
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(fds[1], forked_ms, fn, ctx, ctx_size, v);
	}
	/* Keep SIGCHLD blocked until the child is reaped, so that an application's handler
	 * (sudo has one) does not reap it first. */
	held = saved;
	sigaddset(&held, SIGCHLD);
	(void)sigprocmask(SIG_SETMASK, &held, NULL);
	close(fds[1]);
	fds[1] = -1;
	if (pid < 0)
		goto out;
	reported = read_report(fds[0], buf, len, forked_ms + PRIVSEP_WAIT_MS) == 0;
	reap_child(pid, !reported);
	reason = "the store helper process failed";
	if (!reported)
		goto out;
	memcpy(&rep, buf, sizeof(rep));
	*v = rep.v;
	if (ctx_size > 0)
		memcpy(ctx, buf + sizeof(rep), ctx_size);
	rc = rep.rc;
	done = true;
out:
	if (!done && v != NULL)
		verdict_set(v, VERDICT_UNAVAILABLE, reason);
	if (masked)
		(void)sigprocmask(SIG_SETMASK, &saved, NULL);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	free(buf);
	return rc;
}
