/* Work that must not be stopped by the invoking user: a detached, fully-root child.
 *
 * sudo and su run the PAM stack in a process whose real uid is the invoking user's, so
 * that user may send it any signal (SIGSTOP included) and may have set its resource
 * limits, scheduling and cgroup. A store transaction run there would hold the store's
 * lock for as long as the user likes, and every other login would wait for it.
 * privsep_run carries such work out in a child that has all uids and gids 0, its own
 * session (no controlling terminal), default signal handling, no CPU or file size limit,
 * default scheduling and, where the kernel lets it, the root cgroup: a child no
 * unprivileged user can signal, stop, freeze or slow down.
 *
 * For the caller (read before wrapping a transaction):
 * - fn must not take a flock(2) on an open file description it shares with the parent
 *   (a descriptor inherited through fork): the parent, which the user can stop, would
 *   hold the lock too. Open the lock file anew inside fn; it is closed when the child
 *   exits, however it exits, and with it the lock goes.
 * - *ctx is copied back byte for byte: a flat struct, with no pointer to memory that fn
 *   allocates. Pointers to memory that existed before the call (and to static data)
 *   stay valid: the child is a fork of the same image.
 * - The verdict is copied back byte for byte: its reason must be a static string, as
 *   everywhere in core.
 * - fn must return (not exit) for its result to count; what fn writes to memory other
 *   than *ctx and the verdict is lost.
 * - When it forks, call it from a single-threaded process (sudo, su): the child of a
 *   threaded process may find a lock taken by another thread. Processes that run with
 *   all uids 0 (sshd, pam-jwtd, pam-jwtctl as root) never fork here.
 * - While it runs, SIGCHLD is blocked in the calling thread, so that an application's
 *   handler does not reap the child (a handler that does anyway is tolerated).
 */
#ifndef PAM_JWT_PRIVSEP_H
#define PAM_JWT_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>

#include "verdict.h"

/* How long the caller waits for the child's report, in all (the store waits at most
 * 10 s for its lock). After that the child is killed. */
#define PRIVSEP_WAIT_MS 30000
/* A child that has not become unreachable this long after the fork (it was stopped or
 * frozen before it dropped out of the user's reach) exits without running fn: its caller
 * may have given up, and the work must not happen behind its back. */
#define PRIVSEP_START_MS 5000
/* The largest ctx that privsep_run copies back. */
#define PRIVSEP_CTX_MAX (1024 * 1024)

/* True when a non-root user may signal (kill(2), terminal job control) this process:
 * any of the real, effective or saved uids is not 0. */
bool privsep_needed(void);

/* Run fn(ctx, v). When privsep_needed() and we are able to become fully root
 * (effective uid 0), fn runs in a child that no unprivileged user can signal; *ctx
 * (ctx_size bytes, a flat struct: no pointers into memory the child allocates), the
 * verdict and fn's return value are copied back to the caller. Otherwise fn runs in
 * place. Returns fn's return value, or -1 with VERDICT_UNAVAILABLE and a fixed reason
 * when the child could not be run or did not report (nothing is copied back then). */
int privsep_run(int (*fn)(void *ctx, struct verdict *v), void *ctx, size_t ctx_size,
		struct verdict *v);

#endif
