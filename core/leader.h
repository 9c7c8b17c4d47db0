/* Ending a login's leader process without hitting a process that reused its pid.
 *
 * A session records the pid of the process that opened it and that process's start time.
 * The process is addressed through a pidfd opened while its start time still matches, so
 * a signal reaches that process or nobody. pid 0, pid 1, negative pids and the calling
 * process itself are always refused.
 */
#ifndef PAM_JWT_LEADER_H
#define PAM_JWT_LEADER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Where a pid means something, as a session records it: the kernel's boot
 * (/proc/sys/kernel/random/boot_id) and the pid namespace, hashed (SHA-256, the first 32
 * lowercase hex digits). On another host, in another container's pid namespace, or after
 * a reboot, a recorded pid and start time name nothing. */
#define LEADER_BOOT_LEN 32

/* The caller's scope: this boot of this host, this pid namespace. 0, or -1 (out is ""). */
int leader_boot_id(char out[LEADER_BOOT_LEN + 1]);

/* Was a leader recorded under this boot of this host? "" (records from before the boot
 * was kept, all on the local tmpfs store) counts as here; anything unreadable does not. */
bool leader_is_here(const char *boot);

/* The host's name (gethostname(2)) as a session records it for bind_host: every byte
 * outside 0x21..0x7e becomes '?', at most size - 1 bytes. 0, or -1 (out is ""): no name. */
int leader_host_name(char *out, size_t size);
/* Is `host` (a recorded name) this host's name? "" (no name recorded) never is. */
bool leader_host_is(const char *host);

/* How long leader_end waits for a process to go after SIGKILL. */
#define LEADER_KILL_WAIT_MS 2000

/* The start time of pid: field 22 of /proc/PID/stat, in clock ticks after boot. 0, or -1
 * with errno (ESRCH/ENOENT: no such process). */
int leader_start_time(pid_t pid, int64_t *start);

/* Open a pidfd (close-on-exec) for pid if it is still the process that started at `start`.
 * 0 with *pidfd; 1 if that process is gone or start is 0 (unknown: never guessed);
 * -1 with reason on error (and for pids that are never signalled). *pidfd is -1 unless
 * 0 is returned. */
int leader_open(pid_t pid, int64_t start, int *pidfd, const char **reason);

/* Send sig (0 probes) through the pidfd. 0 sent, 1 the process has exited, -1 error. */
int leader_signal(int pidfd, int sig, const char **reason);

/* Wait up to timeout_ms (>= 0) for the process to exit. 0 exited, 1 still alive, -1 error
 * (errno). */
int leader_wait(int pidfd, int timeout_ms);

/* For tools without an event loop: SIGHUP, up to grace_ms for the process to exit, then
 * SIGKILL and up to LEADER_KILL_WAIT_MS. 0 when the process is gone afterwards (or was
 * already, including when pid now belongs to another process), -1 with reason. */
int leader_end(pid_t pid, int64_t start, int grace_ms, const char **reason);

#endif
