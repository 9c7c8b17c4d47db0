/* Ending a login's leader process through a pidfd checked against its start time. */
#include "leader.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "credid.h"

/* /proc/PID/stat is "pid (comm) state ..." with comm at most 64 bytes in any kernel and
 * 50 numeric fields after it: this holds it with room to spare. */
#define LEADER_STAT_MAX 4096
/* starttime is field 22; field 3 is the first after the comm's closing parenthesis. */
#define LEADER_STARTTIME_FIELD 22

static void set_reason(const char **reason, const char *why)
{
	if (reason != NULL)
		*reason = why;
}

static bool pid_allowed(pid_t pid)
{
	return pid > 1 && pid != getpid();
}

/* Field 22 of a stat line. Fields after the comm are single spaces apart; the comm may hold
 * anything, ')' included, so the fields start after the last ')'. */
static int parse_starttime(const char *buf, size_t len, int64_t *start)
{
	const char *p = NULL, *end = buf + len;
	int field = 2, rc = -1;
	uint64_t v = 0;
	bool digits = false;
	size_t i;

	for (i = len; i > 0 && p == NULL; i--)
		if (buf[i - 1] == ')')
			p = buf + i;
	if (p == NULL)
		goto out;
	while (p < end && field < LEADER_STARTTIME_FIELD) {
		if (*p == ' ')
			field++;
		p++;
	}
	if (field != LEADER_STARTTIME_FIELD)
		goto out;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto out;
		v = v * 10 + (uint64_t)(*p - '0');
		digits = true;
	}
	if (!digits || (p < end && *p != ' ' && *p != '\n'))
		goto out;
	*start = (int64_t)v;
	rc = 0;
out:
	return rc;
}

int leader_start_time(pid_t pid, int64_t *start)
{
	char path[32], buf[LEADER_STAT_MAX];
	size_t used = 0;
	ssize_t n;
	int fd = -1, rc = -1;

	if (start == NULL || pid <= 0) {
		errno = EINVAL;
		goto out;
	}
	*start = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto out;
	while (used < sizeof(buf)) {
		n = read(fd, buf + used, sizeof(buf) - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used == sizeof(buf) || parse_starttime(buf, used, start) != 0) {
		errno = EPROTO;
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int leader_open(pid_t pid, int64_t start, int *pidfd, const char **reason)
{
	int64_t now = 0;
	long fd = -1;
	int rc = -1;

	if (pidfd != NULL)
		*pidfd = -1;
	if (pidfd == NULL || start < 0) {
		errno = EINVAL;
		set_reason(reason, "invalid argument");
		goto out;
	}
	if (!pid_allowed(pid)) {
		errno = EPERM;
		set_reason(reason, "refusing to signal that pid");
		goto out;
	}
	if (start == 0) {
		rc = 1;
		goto out;
	}
	fd = syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		/* EINVAL: pid is now a thread of some process, not a process */
		if (errno == ESRCH || errno == EINVAL)
			rc = 1;
		else
			set_reason(reason, errno == ENOSYS ? "the kernel has no pidfd_open"
					   : "cannot open the process");
		goto out;
	}
	/* The pidfd names the process that had pid when it was opened. If /proc/PID now shows
	 * the recorded start time, that process is still there and it is the one opened: a
	 * process taking the pid over later cannot have started earlier. */
	if (leader_start_time(pid, &now) != 0) {
		if (errno == ENOENT || errno == ESRCH)
			rc = 1;
		else
			set_reason(reason, "cannot read the process's start time");
		goto out;
	}
	if (now != start) {
		rc = 1;
		goto out;
	}
	*pidfd = (int)fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close((int)fd);
	return rc;
}

/* 0 exited, 1 alive, -1 error. */
static int poll_exit(int pidfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int n, rc = -1;

	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		goto out;
	if (n > 0 && (pfd.revents & POLLNVAL) != 0) {
		errno = EBADF;
		goto out;
	}
	rc = n > 0 ? 0 : 1;
out:
	return rc;
}

int leader_signal(int pidfd, int sig, const char **reason)
{
	int rc = -1, alive;

	if (pidfd < 0 || sig < 0 || sig >= NSIG) {
		errno = EINVAL;
		set_reason(reason, "invalid argument");
		goto out;
	}
	/* an exited process that is not yet reaped would still accept the signal */
	alive = poll_exit(pidfd, 0);
	if (alive < 0) {
		set_reason(reason, "cannot poll the process");
		goto out;
	}
	if (alive == 0) {
		rc = 1;
		goto out;
	}
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) != 0) {
		if (errno == ESRCH)
			rc = 1;
		else
			set_reason(reason, errno == ENOSYS ? "the kernel has no pidfd_send_signal"
					   : "cannot signal the process");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int leader_wait(int pidfd, int timeout_ms)
{
	int64_t deadline, left;
	int rc = -1;

	if (pidfd < 0 || timeout_ms < 0) {
		errno = EINVAL;
		goto out;
	}
	deadline = monotonic_ms() + timeout_ms;
	for (;;) {
		left = deadline - monotonic_ms();
		rc = poll_exit(pidfd, left > 0 ? (int)left : 0);
		if (rc >= 0 || errno != EINTR)
			break;
	}
out:
	return rc;
}

/* Send sig and wait up to wait_ms: 0 the process is gone, 1 still alive, -1 error. */
static int end_step(int pidfd, int sig, int wait_ms, const char **reason)
{
	int rc = leader_signal(pidfd, sig, reason);

	if (rc == 0) {
		rc = leader_wait(pidfd, wait_ms);
		if (rc < 0)
			set_reason(reason, "cannot wait for the process");
	} else if (rc == 1) {
		rc = 0;
	}
	return rc;
}

int leader_end(pid_t pid, int64_t start, int grace_ms, const char **reason)
{
	int pidfd = -1, rc = -1, r;

	if (grace_ms < 0) {
		errno = EINVAL;
		set_reason(reason, "invalid argument");
		goto out;
	}
	r = leader_open(pid, start, &pidfd, reason);
	if (r != 0) {
		rc = r > 0 ? 0 : -1;
		goto out;
	}
	r = end_step(pidfd, SIGHUP, grace_ms, reason);
	if (r == 1) {
		r = end_step(pidfd, SIGKILL, LEADER_KILL_WAIT_MS, reason);
		if (r == 1) {
			errno = ETIMEDOUT;
			set_reason(reason, "the process is still there after SIGKILL");
		}
	}
	rc = r == 0 ? 0 : -1;
out:
	if (pidfd >= 0)
		close(pidfd);
	return rc;
}

int leader_boot_id(char out[LEADER_BOOT_LEN + 1])
{
	char buf[64], text[128], digest[STORE_DIGEST_HEX_LEN + 1];
	struct stat ns;
	ssize_t n;
	int fd, len, rc = -1;

	out[0] = '\0';
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		goto out;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 32 || stat("/proc/self/ns/pid", &ns) != 0)
		goto out;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* the boot and the pid namespace: the scope in which a pid names one process */
	len = snprintf(text, sizeof(text), "%s pidns %llu:%llu", buf,
		       (unsigned long long)ns.st_dev, (unsigned long long)ns.st_ino);
	if (len < 0 || (size_t)len >= sizeof(text) || store_digest(text, (size_t)len, digest) != 0)
		goto out;
	memcpy(out, digest, LEADER_BOOT_LEN);
	out[LEADER_BOOT_LEN] = '\0';
	rc = 0;
out:
	return rc;
}

bool leader_is_here(const char *boot)
{
	/* read once per process (a scan asks for every session); a forked child, which may
	 * live in another pid namespace, reads it again */
	static char here[LEADER_BOOT_LEN + 1];
	static pid_t read_by;

	if (boot == NULL || boot[0] == '\0')
		return true;
	if (read_by != getpid()) {
		if (leader_boot_id(here) != 0)
			return false;
		read_by = getpid();
	}
	return strcmp(boot, here) == 0;
}

int leader_host_name(char *out, size_t size)
{
	char name[256];
	size_t i;
	int rc = -1;

	if (size == 0)
		return -1;
	out[0] = '\0';
	memset(name, 0, sizeof(name));
	if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0')
		goto out;
	for (i = 0; name[i] != '\0' && i + 1 < size; i++)
		out[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	out[i] = '\0';
	rc = 0;
out:
	return rc;
}

bool leader_host_is(const char *host)
{
	char here[256];

	return host != NULL && host[0] != '\0' && leader_host_name(here, sizeof(here)) == 0 &&
	       strcmp(host, here) == 0;
}
