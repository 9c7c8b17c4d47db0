/* privsep_run: work carried out in a fully-root child that the invoking user cannot reach.
 *
 * The caller is played by a forked "sudo" process: real uid nobody (65534), effective and
 * saved uid 0, as a setuid-root program has them. The user is played by an "attacker"
 * process with every uid and gid nobody. Needs root (it runs as root in CI); the cases
 * that change uids skip without it.
 *
 * Checked: fn runs in place when all uids are 0; from the sudo-like caller it runs in a
 * child with every uid and gid 0, no supplementary group, a session of its own, default
 * signal handling, nothing blocked, no CPU or file size limit, nice 0, not dumpable; rc,
 * verdict (reason pointer, detail, labels) and ctx (also larger than a pipe's buffer) come
 * back; the caller's signal mask is restored; an application SIGCHLD handler that reaps,
 * or SIGCHLD ignored, does not break it; a child that crashes or exits without a report
 * gives -1 VERDICT_UNAVAILABLE and leaves ctx alone. Then the attack: while the child
 * holds a flock, the user stops the caller (SIGSTOP), kills it (SIGKILL) or freezes its
 * delegated cgroup v2 group: the user's kill(2) on the child fails with EPERM and the lock
 * is free again as soon as the child is done, with the caller still stopped or frozen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "privsep.h"
#include "store.h" /* for testutil.h's assert_verdict */
#include "testutil.h"

#define NOBODY 65534
#define BIG_CTX (256 * 1024) /* four times a default pipe buffer */
#define HOLD_MS 400          /* how long the child keeps the flock */

static const char probe_reason[] = "the probe ran";

/* What fn sees in the child (the ctx of the probe). */
struct probe {
	pid_t pid, ppid, sid;
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	int ngroups;
	int nice;
	int sigint_default, sigpipe_ignored, blocked;
	int cpu_unlimited, fsize_unlimited;
	int dumpable;
	unsigned char big[BIG_CTX];
};

enum attack { ATTACK_STOP, ATTACK_KILL, ATTACK_FREEZE };

/* Shared between the test, the caller, its child and the attacker (MAP_SHARED). */
struct shared {
	/* the caller */
	int rc;
	struct verdict v;
	struct probe probe;
	pid_t caller_pid, caller_sid;
	int sigterm_blocked_after, sigchld_blocked_after, ctx_intact;
	int rc_ign;
	struct probe probe_ign;
	int reaped_by_handler;
	/* the child holding the lock */
	char child_cgroup[256];
	/* the attacker */
	int stop_child_rc, stop_child_errno, term_child_rc, term_child_errno, attack_rc;
};

static struct shared *sh;
static pid_t caller = -1;
static char lock_dir[64];
static char cgroup_dir[PATH_MAX];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The "0::/path" line of /proc/self/cgroup (the v2 cgroup), or "". */
static void own_cgroup_v2(char *out, size_t size)
{
	char *text = tu_read_file("/proc/self/cgroup", NULL), *line, *save = NULL;

	out[0] = '\0';
	for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0)
			snprintf(out, size, "%s", line);
	}
	free(text);
}

static int setup(void **state)
{
	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	return 0;
}

static int teardown(void **state)
{
	char path[PATH_MAX + 32];
	int fd, i;

	(void)state;
	if (caller > 0) {
		(void)kill(caller, SIGKILL);
		(void)waitpid(caller, NULL, 0);
		caller = -1;
	}
	if (cgroup_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/cgroup.freeze", cgroup_dir);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			(void)!write(fd, "0", 1);
			close(fd);
		}
		/* after a failure a frozen child may still be in it: kill what is left */
		for (i = 0; rmdir(cgroup_dir) != 0 && errno == EBUSY && i < 100; i++) {
			snprintf(path, sizeof(path), "%s/cgroup.kill", cgroup_dir);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				(void)!write(fd, "1", 1);
				close(fd);
			}
			sleep_ms(20);
		}
		cgroup_dir[0] = '\0';
	}
	if (lock_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/lock", lock_dir);
		(void)unlink(path);
		snprintf(path, sizeof(path), "%s/done", lock_dir);
		(void)unlink(path);
		(void)rmdir(lock_dir);
		lock_dir[0] = '\0';
	}
	if (sh != NULL)
		munmap(sh, sizeof(*sh));
	sh = NULL;
	return 0;
}

static void need_root(void)
{
	if (geteuid() != 0) {
		print_message("# needs root (setresuid)\n");
		skip();
	}
}

/* ---- functions run through privsep_run ------------------------------------------------- */

static int probe_fn(void *ctx, struct verdict *v)
{
	struct probe *p = ctx;
	struct sigaction sa;
	struct rlimit rl;
	sigset_t mask;
	size_t i;
	int sig;

	p->pid = getpid();
	p->ppid = getppid();
	p->sid = getsid(0);
	(void)getresuid(&p->ruid, &p->euid, &p->suid);
	(void)getresgid(&p->rgid, &p->egid, &p->sgid);
	p->ngroups = getgroups(0, NULL);
	errno = 0;
	p->nice = getpriority(PRIO_PROCESS, 0);
	p->sigint_default = sigaction(SIGINT, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL;
	p->sigpipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
	p->blocked = 0;
	if (sigprocmask(SIG_BLOCK, NULL, &mask) == 0) {
		for (sig = 1; sig < SIGRTMIN; sig++)
			p->blocked += sigismember(&mask, sig) == 1;
	}
	p->cpu_unlimited = getrlimit(RLIMIT_CPU, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY &&
			   rl.rlim_max == RLIM_INFINITY;
	p->fsize_unlimited = getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY &&
			     rl.rlim_max == RLIM_INFINITY;
	p->dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	for (i = 0; i < sizeof(p->big); i++)
		p->big[i] = (unsigned char)(i * 7 + 3);
	verdict_setf_seconds(v, VERDICT_REJECT, probe_reason, "%lld s", 42);
	verdict_label_copy(v->jti, sizeof(v->jti), "jti-1");
	return 7;
}

static int abort_fn(void *ctx, struct verdict *v)
{
	memset(ctx, 0xee, sizeof(struct probe));
	verdict_ok(v);
	abort();
}

static int silent_exit_fn(void *ctx, struct verdict *v)
{
	memset(ctx, 0xee, sizeof(struct probe));
	verdict_ok(v);
	_exit(0);
}

static int sigkill_fn(void *ctx, struct verdict *v)
{
	memset(ctx, 0xee, sizeof(struct probe));
	verdict_ok(v);
	raise(SIGKILL);
	return 0;
}

/* Takes the flock on a descriptor of its own, tells the test its pid, keeps the lock
 * HOLD_MS, lets it go and leaves a "done" file. */
struct hold_ctx {
	char lock_path[96];
	char done_path[96];
	int notify_fd;
	int held;
};

static int hold_fn(void *ctx, struct verdict *v)
{
	struct hold_ctx *h = ctx;
	pid_t self = getpid();
	int fd, done, rc = -1;

	fd = open(h->lock_path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) != 0)
		goto out;
	h->held = 1;
	own_cgroup_v2(sh->child_cgroup, sizeof(sh->child_cgroup));
	if (write(h->notify_fd, &self, sizeof(self)) != (ssize_t)sizeof(self))
		goto out;
	sleep_ms(HOLD_MS);
	(void)flock(fd, LOCK_UN);
	done = open(h->done_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (done < 0)
		goto out;
	close(done);
	verdict_ok(v);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- processes ------------------------------------------------------------------------ */

/* As sudo is during PAM: real uid and gid the user's, effective and saved 0. */
static void become_sudo_like(void)
{
	if (setgroups(0, NULL) != 0 || setresgid(NOBODY, 0, 0) != 0 ||
	    setresuid(NOBODY, 0, 0) != 0)
		_exit(100);
}

/* Run scenario in a sudo-like process; its wait status. */
static int run_as_sudo(void (*scenario)(void))
{
	int status = -1;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		become_sudo_like();
		scenario();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit_0(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("process ended with wait status 0x%x", (unsigned)status);
}

static void note_signal(int sig)
{
	(void)sig;
}

static volatile sig_atomic_t reaped_by_handler;

static void reap_all(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		reaped_by_handler++;
	errno = saved;
}

/* The user set sudo's nice value and soft limits (lower_hard: the hard ones too) and
 * installed handlers and a mask (sudo's own do the same). */
static bool lower_hard;

static void scenario_probe(void)
{
	struct rlimit cpu = { 1000, RLIM_INFINITY }, fsize = { 1 << 20, RLIM_INFINITY };
	struct sigaction sa;
	static struct probe p;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &set, NULL);
	(void)setpriority(PRIO_PROCESS, 0, 19);
	if (lower_hard) {
		cpu.rlim_max = cpu.rlim_cur;
		fsize.rlim_max = fsize.rlim_cur;
	}
	(void)setrlimit(RLIMIT_CPU, &cpu);
	(void)setrlimit(RLIMIT_FSIZE, &fsize);
	sh->caller_pid = getpid();
	sh->caller_sid = getsid(0);
	verdict_init(&sh->v);
	sh->rc = privsep_run(probe_fn, &p, sizeof(p), &sh->v);
	sh->probe = p; /* p is private to this process: what came back is a copy */
	(void)sigprocmask(SIG_BLOCK, NULL, &set);
	sh->sigterm_blocked_after = sigismember(&set, SIGTERM);
	sh->sigchld_blocked_after = sigismember(&set, SIGCHLD);
}

/* sudo reaps children in a SIGCHLD handler; other programs ignore SIGCHLD. */
static void scenario_sigchld(void)
{
	struct sigaction sa;
	static struct probe p;
	struct verdict v;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = reap_all;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGCHLD, &sa, NULL);
	verdict_init(&v);
	sh->rc = privsep_run(probe_fn, &p, sizeof(p), &v);
	sh->v = v;
	sh->probe = p;
	sh->reaped_by_handler = reaped_by_handler;
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGCHLD, &sa, NULL);
	memset(&p, 0, sizeof(p));
	verdict_init(&v);
	sh->rc_ign = privsep_run(probe_fn, &p, sizeof(p), &v);
	sh->probe_ign = p;
}

static int (*failing_fn)(void *ctx, struct verdict *v);

static void scenario_failing(void)
{
	static struct probe p;
	size_t i;

	memset(&p, 0x5a, sizeof(p));
	verdict_init(&sh->v);
	sh->rc = privsep_run(failing_fn, &p, sizeof(p), &sh->v);
	sh->ctx_intact = 1;
	for (i = 0; i < sizeof(p); i++)
		if (((unsigned char *)&p)[i] != 0x5a)
			sh->ctx_intact = 0;
}

static void assert_probe_from_child(const struct probe *p)
{
	size_t i;

	assert_int_not_equal(p->pid, sh->caller_pid);
	assert_int_equal(p->ppid, sh->caller_pid);
	assert_int_equal(p->sid, p->pid);
	assert_int_not_equal(p->sid, sh->caller_sid);
	assert_int_equal(p->ruid, 0);
	assert_int_equal(p->euid, 0);
	assert_int_equal(p->suid, 0);
	assert_int_equal(p->rgid, 0);
	assert_int_equal(p->egid, 0);
	assert_int_equal(p->sgid, 0);
	assert_int_equal(p->ngroups, 0);
	for (i = 0; i < sizeof(p->big); i++)
		if (p->big[i] != (unsigned char)(i * 7 + 3))
			fail_msg("ctx byte %zu did not come back", i);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_needed_by_uids(void **state)
{
	static const uid_t cases[][4] = {
		/* ruid, euid, suid, needed */
		{ 0, 0, 0, 0 },
		{ NOBODY, 0, 0, 1 },
		{ 0, NOBODY, 0, 1 },
		{ 0, 0, NOBODY, 1 },
	};
	int status;
	size_t i;
	pid_t pid;

	(void)state;
	need_root();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			if (setresuid(cases[i][0], cases[i][1], cases[i][2]) != 0)
				_exit(100);
			_exit(privsep_needed() ? 1 : 0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), cases[i][3]);
	}
}

static void test_in_place_when_all_uids_are_0(void **state)
{
	static struct probe p;
	struct verdict v;

	(void)state;
	if (geteuid() == 0)
		assert_false(privsep_needed());
	verdict_init(&v);
	assert_int_equal(privsep_run(probe_fn, &p, sizeof(p), &v), 7);
	assert_int_equal(p.pid, getpid());
	assert_int_equal(v.code, VERDICT_REJECT);
	assert_ptr_equal(v.reason, probe_reason);
	assert_string_equal(v.detail, "42 s");
}

static void test_arguments(void **state)
{
	static struct probe p;
	struct verdict v;

	(void)state;
	verdict_init(&v);
	assert_int_equal(privsep_run(NULL, &p, sizeof(p), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "invalid store helper call");
	verdict_init(&v);
	assert_int_equal(privsep_run(probe_fn, NULL, sizeof(p), &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "invalid store helper call");
	verdict_init(&v);
	assert_int_equal(privsep_run(probe_fn, &p, PRIVSEP_CTX_MAX + 1, &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "invalid store helper call");
	assert_int_equal(privsep_run(probe_fn, &p, sizeof(p), NULL), -1);
}

static void test_child_is_root_and_reports_back(void **state)
{
	const struct probe *p = &sh->probe;

	(void)state;
	need_root();
	assert_exit_0(run_as_sudo(scenario_probe));
	assert_int_equal(sh->rc, 7);
	assert_int_equal(sh->v.code, VERDICT_REJECT);
	/* the same static string: the child is a fork of the same image */
	assert_ptr_equal(sh->v.reason, probe_reason);
	assert_string_equal(sh->v.detail, "42 s");
	assert_string_equal(sh->v.jti, "jti-1");
	assert_probe_from_child(p);
	assert_true(p->sigint_default);
	assert_true(p->sigpipe_ignored);
	assert_int_equal(p->blocked, 0);
	assert_true(p->cpu_unlimited);
	assert_true(p->fsize_unlimited);
	assert_int_equal(p->nice, 0);
	assert_int_equal(p->dumpable, 0);
	/* the caller's mask as it was */
	assert_true(sh->sigterm_blocked_after);
	assert_false(sh->sigchld_blocked_after);
}

/* Whether this process may raise a hard limit again (CAP_SYS_RESOURCE; containers often
 * lack it). */
static bool can_raise_hard_limits(void)
{
	const struct rlimit low = { 1000, 1000 }, unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(setrlimit(RLIMIT_CPU, &low) == 0 && setrlimit(RLIMIT_CPU, &unlimited) == 0
			      ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The user lowered the hard limits too: the child raises them again, or, when it may not,
 * fn does not run (fail closed: only that user's own login fails). */
static void test_hard_limits_lowered(void **state)
{
	bool can_raise;

	(void)state;
	need_root();
	can_raise = can_raise_hard_limits();
	print_message("# hard limits can be raised here: %s\n", can_raise ? "yes" : "no");
	lower_hard = true;
	assert_exit_0(run_as_sudo(scenario_probe));
	lower_hard = false;
	if (can_raise) {
		assert_int_equal(sh->rc, 7);
		assert_true(sh->probe.cpu_unlimited);
		assert_true(sh->probe.fsize_unlimited);
	} else {
		assert_int_equal(sh->rc, -1);
		assert_verdict(&sh->v, VERDICT_UNAVAILABLE, "the store helper process failed");
	}
}

static void test_sigchld_handler_or_ignored(void **state)
{
	(void)state;
	need_root();
	assert_exit_0(run_as_sudo(scenario_sigchld));
	assert_int_equal(sh->rc, 7);
	assert_ptr_equal(sh->v.reason, probe_reason);
	assert_int_not_equal(sh->probe.pid, 0);
	assert_int_not_equal(sh->probe.pid, sh->probe.ppid);
	assert_int_equal(sh->probe.euid, 0);
	/* privsep_run reaped its child before the handler could see it */
	assert_int_equal(sh->reaped_by_handler, 0);
	assert_int_equal(sh->rc_ign, 7);
	assert_int_not_equal(sh->probe_ign.pid, 0);
	assert_int_equal(sh->probe_ign.ruid, 0);
}

static void test_child_without_report(void **state)
{
	int (*const fns[])(void *, struct verdict *) = { abort_fn, silent_exit_fn, sigkill_fn };
	size_t i;

	(void)state;
	need_root();
	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		failing_fn = fns[i];
		memset(sh, 0, sizeof(*sh));
		assert_exit_0(run_as_sudo(scenario_failing));
		assert_int_equal(sh->rc, -1);
		assert_verdict(&sh->v, VERDICT_UNAVAILABLE, "the store helper process failed");
		assert_true(sh->ctx_intact);
	}
}

/* ---- the attack: the caller stopped, killed or frozen while its child holds the lock --- */

static int cgroup_v2_base(char *out, size_t size)
{
	static const char *const bases[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sfs;
	size_t i;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (statfs(bases[i], &sfs) == 0 && (unsigned long)sfs.f_type == CGROUP2_SUPER_MAGIC) {
			snprintf(out, size, "%s", bases[i]);
			return 0;
		}
	}
	return -1;
}

/* A cgroup v2 group delegated to nobody (its cgroup.freeze is theirs), as systemd
 * delegates user@UID.service to each user. */
static void make_user_cgroup(void)
{
	char base[64], path[PATH_MAX + 32];

	if (cgroup_v2_base(base, sizeof(base)) != 0) {
		print_message("# no cgroup v2 hierarchy is mounted\n");
		skip();
	}
	snprintf(cgroup_dir, sizeof(cgroup_dir), "%s/pamjwt-privsep-%d", base, (int)getpid());
	if (mkdir(cgroup_dir, 0755) != 0) {
		print_message("# cannot create %s: %s\n", cgroup_dir, strerror(errno));
		cgroup_dir[0] = '\0';
		skip();
	}
	snprintf(path, sizeof(path), "%s/cgroup.freeze", cgroup_dir);
	assert_int_equal(chown(path, NOBODY, NOBODY), 0);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The caller: into the user's cgroup (freeze case), sudo-like, then privsep_run(hold_fn).
 * Exits 0 when the report came back complete and fn had the lock. */
static pid_t spawn_caller(const struct hold_ctx *tmpl, int notify_read)
{
	char procs[PATH_MAX + 32], pid[24];
	struct hold_ctx h = *tmpl;
	struct verdict v;
	pid_t p;
	int fd;

	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		close(notify_read);
		if (cgroup_dir[0] != '\0') {
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup_dir);
			snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, pid, strlen(pid)) != (ssize_t)strlen(pid))
				_exit(101);
			close(fd);
		}
		become_sudo_like();
		verdict_init(&v);
		_exit(privsep_run(hold_fn, &h, sizeof(h), &v) == 0 && h.held && v.code == VERDICT_OK
			      ? 0 : 1);
	}
	return p;
}

/* The user, with every uid and gid nobody: signals the child (must fail) and then stops,
 * kills or freezes the caller. */
static void run_attacker(enum attack how, pid_t child)
{
	char path[PATH_MAX + 32];
	int status, fd;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)
			_exit(100);
		errno = 0;
		sh->stop_child_rc = kill(child, SIGSTOP);
		sh->stop_child_errno = errno;
		errno = 0;
		sh->term_child_rc = kill(child, SIGTERM);
		sh->term_child_errno = errno;
		switch (how) {
		case ATTACK_STOP:
			sh->attack_rc = kill(caller, SIGSTOP);
			break;
		case ATTACK_KILL:
			sh->attack_rc = kill(caller, SIGKILL);
			break;
		case ATTACK_FREEZE:
			snprintf(path, sizeof(path), "%s/cgroup.freeze", cgroup_dir);
			fd = open(path, O_WRONLY | O_CLOEXEC);
			sh->attack_rc = fd >= 0 && write(fd, "1", 1) == 1 ? 0 : -1;
			break;
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_exit_0(status);
}

static bool cgroup_frozen(void)
{
	char path[PATH_MAX + 32], *text;
	bool frozen;

	snprintf(path, sizeof(path), "%s/cgroup.events", cgroup_dir);
	text = tu_read_file(path, NULL);
	frozen = text != NULL && strstr(text, "frozen 1") != NULL;
	free(text);
	return frozen;
}

/* 'T' stopped, 'Z' zombie, ... ; '?' when there is no such process. */
static char proc_state(pid_t pid)
{
	char path[64], *text, *p, state = '?';

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	text = tu_read_file(path, NULL);
	p = text != NULL ? strrchr(text, ')') : NULL;
	if (p != NULL && p[1] == ' ')
		state = p[2];
	free(text);
	return state;
}

static void attack_while_locked(enum attack how)
{
	struct hold_ctx h;
	struct pollfd pfd;
	int64_t start, waited;
	int np[2], lfd, status, got;
	pid_t child = -1;
	char state;

	need_root();
	snprintf(lock_dir, sizeof(lock_dir), "/tmp/pamjwt-privsep-XXXXXX");
	assert_non_null(mkdtemp(lock_dir));
	memset(&h, 0, sizeof(h));
	snprintf(h.lock_path, sizeof(h.lock_path), "%s/lock", lock_dir);
	snprintf(h.done_path, sizeof(h.done_path), "%s/done", lock_dir);
	lfd = open(h.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(lfd >= 0);
	if (how == ATTACK_FREEZE)
		make_user_cgroup();
	assert_int_equal(pipe(np), 0);
	h.notify_fd = np[1];
	caller = spawn_caller(&h, np[0]);
	close(np[1]);

	/* the child has the lock */
	pfd.fd = np[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(read(np[0], &child, sizeof(child)), (ssize_t)sizeof(child));
	close(np[0]);
	assert_int_not_equal(flock(lfd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(errno, EWOULDBLOCK);

	run_attacker(how, child);
	assert_int_equal(sh->stop_child_rc, -1);
	assert_int_equal(sh->stop_child_errno, EPERM);
	assert_int_equal(sh->term_child_rc, -1);
	assert_int_equal(sh->term_child_errno, EPERM);
	assert_int_equal(sh->attack_rc, 0);
	switch (how) {
	case ATTACK_STOP:
		assert_int_equal(waitpid(caller, &status, WUNTRACED), caller);
		assert_true(WIFSTOPPED(status));
		break;
	case ATTACK_KILL:
		assert_int_equal(waitpid(caller, &status, 0), caller);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		caller = -1;
		break;
	case ATTACK_FREEZE:
		for (start = now_ms(); !cgroup_frozen() && now_ms() - start < 3000;)
			sleep_ms(10);
		assert_true(cgroup_frozen());
		/* the child left the user's cgroup for the root one before it took the lock */
		assert_string_equal(sh->child_cgroup, "0::/");
		break;
	}

	/* The lock is free again once the child is done, with the caller still held. */
	start = now_ms();
	while ((got = flock(lfd, LOCK_EX | LOCK_NB)) != 0 && now_ms() - start < HOLD_MS + 3000)
		sleep_ms(5);
	waited = now_ms() - start;
	print_message("# lock free again after %lld ms (the child keeps it %d ms)\n",
		      (long long)waited, HOLD_MS);
	assert_int_equal(got, 0);
	assert_int_equal(access(h.done_path, F_OK), 0);
	if (how == ATTACK_STOP) {
		state = proc_state(caller);
		assert_int_equal(state, 'T');
	}
	if (how == ATTACK_FREEZE)
		assert_true(cgroup_frozen());
	(void)flock(lfd, LOCK_UN);
	close(lfd);

	/* Let the caller go on: it gets the child's full report. */
	if (how == ATTACK_STOP)
		assert_int_equal(kill(caller, SIGCONT), 0);
	if (how == ATTACK_FREEZE) {
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/cgroup.freeze", cgroup_dir);
		write_file(path, "0");
	}
	if (caller > 0) {
		assert_int_equal(waitpid(caller, &status, 0), caller);
		caller = -1;
		assert_exit_0(status);
		assert_int_equal(proc_state(child), '?');
	}
}

static void test_stopped_caller(void **state)
{
	(void)state;
	attack_while_locked(ATTACK_STOP);
}

static void test_killed_caller(void **state)
{
	(void)state;
	attack_while_locked(ATTACK_KILL);
}

static void test_frozen_cgroup(void **state)
{
	(void)state;
	attack_while_locked(ATTACK_FREEZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_needed_by_uids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_when_all_uids_are_0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_is_root_and_reports_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hard_limits_lowered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigchld_handler_or_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_without_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopped_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_caller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frozen_cgroup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
