/*
 * pam-jwtd — the pam_jwt helper daemon.
 *
 * Mints short-lived access tokens and rotating refresh tokens for the sessions in the
 * store, keeps the access token in a live session's keyring fresh, sweeps the store, and
 * ends the live login of every session it revokes (SIGHUP to the login's leader, SIGKILL
 * after revoke_kill_after). One thread, one poll loop; every request is one SOCK_SEQPACKET
 * message answered by one message (see core/proto.h), and the caller is who the kernel says
 * it is (SO_PEERCRED).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin.h"
#include "b64url.h"
#include "claims.h"
#include "clock.h"
#include "cfgcheck.h"
#include "config.h"
#include "jwt.h"
#include "keyring.h"
#include "keys.h"
#include "leader.h"
#include "proto.h"
#include "session.h"
#include "store.h"
#include "user.h"
#include "verdict.h"

#include "isotime.h"
#include "jwksfetch.h"
#include "version.h"

#define PAM_JWTD_VERSION "1"
#define MAX_CLIENTS 256
/* Connections of one unprivileged uid at most, and slots only root may fill, so that no
 * user can take the daemon from the others or from the module (which connects as root).
 * A connection counts against the uid proto_peer_account_uid names: a set-user-ID program
 * (sudo) that its user can stop holds a slot of that user, not of root. */
#define MAX_CLIENTS_PER_UID 16
#define ROOT_RESERVED_CLIENTS 32
/* A connection that sends nothing for this long is closed (milliseconds). */
#define CLIENT_IDLE_MS 30000
/* How many sessions a "sessions" answer lists at most (it must fit PROTO_ANSWER_MAX). */
#define SESSIONS_LISTED_MAX 100
/* The keyring tokens are looked at this often (milliseconds). */
#define TICK_MS 1000
/* How often a broken watch on a shared store is subscribed again. */
#define WATCH_RETRY_MS 2000
/* How often the mirror of a shared store's revocations and locks is renewed
 * (store_unavailable = last_known; max_staleness is at least three times this). */
#define MIRROR_SYNC_MS (SESSION_MIRROR_SYNC_SECONDS * 1000)
/* SHA-256 */
#define TRACKED_DIGEST_LEN 32
/* A tick renews keyring tokens for at most this long (milliseconds) before it lets
 * clients in again. */
#define TICK_BUDGET_MS 200
/* A renewal that failed (or is refused while the user is locked) is tried again this many
 * seconds later. */
#define TRACKED_RETRY 2
/* A locked user's sessions are looked at again this many seconds later. */
#define TRACKED_STALL_RETRY 30
/* With renewals left over after a tick, the next one comes this soon (milliseconds). */
#define TICK_BACKLOG_MS 50

struct client {
	int fd;
	uid_t uid;      /* SO_PEERCRED: who the caller is */
	uid_t acct_uid; /* whose slots it takes (see MAX_CLIENTS_PER_UID) */
	gid_t gid;
	int64_t last_ms; /* last request (or connect), monotonic */
	bool awaits_jwks; /* asked for the issuer's keys: answered when the fetch ends */
};

/* A session whose access token pam-jwtd keeps fresh in its user's keyring. */
struct tracked {
	unsigned char digest[TRACKED_DIGEST_LEN]; /* the session digest, binary (half the room) */
	uid_t uid;
	gid_t gid;
	int64_t access_exp; /* when the access token in the keyring expires; 0: unknown */
	bool stalled;       /* its renewal is refused for now (user locked); logged once */
};

/* A login being ended: SIGHUP sent, SIGKILL due at kill_at (monotonic ms). */
struct ending {
	int pidfd;
	pid_t pid;
	int64_t kill_at;
};

struct daemon {
	const char *config_path;
	const char *socket_override;
	struct config cfg;
	struct jwa_key key;
	char *kid;
	struct store *st;
	int listen_fd;
	int signal_fd;
	struct client clients[MAX_CLIENTS];
	struct tracked *tracked;
	size_t n_tracked, cap_tracked;
	uint32_t *tracked_index; /* see index_slot */
	size_t index_cap;
	size_t tick_cursor; /* where keyring_tick goes on */
	struct ending *ending;
	size_t n_ending, cap_ending;
	int64_t started;
	int64_t next_sweep_ms;
	int64_t next_jwks_ms;        /* the next JWKS fetch, when jwks_cache is set */
	unsigned int jwks_failures;  /* fetches failed in a row, for the backoff */
	pid_t jwks_pid;              /* the fetch running in a child, or 0 */
	int jwks_fd;                 /* its result pipe, or -1 */
	int64_t jwks_deadline_ms;    /* when it is stopped if it has not reported */
	int64_t jwks_early_ms;       /* when the last early refetch began; 0: never */
	bool jwks_again;             /* reloaded while a fetch ran: fetch again when it ends */
	/* a shared (Redis) store: sessions revoked on any host, as they are revoked */
	struct store_watch *watch;
	int64_t watch_retry_ms;      /* when to subscribe again after it broke */
	bool watch_failing;          /* the last attempt failed (log once) */
	struct store_session *local; /* this host's sessions at the last look */
	size_t n_local;
	/* store_unavailable = last_known: the mirror of its revocations and locks */
	struct store *mirror;
	int64_t next_mirror_ms;
	bool mirror_failing;         /* the last renewal failed (log once) */
	unsigned long long requests, refreshes, reuses, logins_ended;
	bool use_stderr;
	bool stop;
};

static struct daemon *g_daemon;

/* ---- logging ------------------------------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
static void say(int priority, const char *fmt, ...)
{
	char line[1024];
	size_t i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* names come from the store and from requests: nothing but printable ASCII is logged */
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			line[i] = '?';
	if (g_daemon != NULL && g_daemon->use_stderr)
		fprintf(stderr, "%s\n", line);
	else
		syslog(priority, "%s", line);
}

static void say_verdict(int priority, const char *what, const struct verdict *v)
{
	char text[VERDICT_TEXT_MAX];

	verdict_describe(v, text, sizeof(text));
	say(priority, "%s: %s", what, text);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configuration and keys ------------------------------------------------------------ */

struct loaded {
	struct config cfg;
	struct jwa_key key;
	char *kid;
	struct store *st;
};

static void loaded_clear(struct loaded *l)
{
	config_free(&l->cfg);
	jwa_key_clear(&l->key);
	free(l->kid);
	store_close(l->st);
	memset(l, 0, sizeof(*l));
}

/* Read the config and make the check pam-jwtctl check-config makes (less the daemon's own
 * socket): every problem is logged; the first error, if any, is in v. */
static int load_checked(const struct daemon *d, struct config *cfg, struct verdict *v)
{
	struct config_report *r = calloc(1, sizeof(*r));
	struct keyset_notes *notes = calloc(1, sizeof(*notes));
	size_t i;
	int rc = -1;

	if (r == NULL || notes == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (config_load_file_report(cfg, d->config_path, r, v) != 0)
		goto out;
	if (d->socket_override != NULL && config_set(cfg, "socket_path", d->socket_override, v) != 0)
		goto out;
	rc = config_check(cfg, CFGCHECK_DAEMON | (r->errors > 0 ? CFGCHECK_NO_VALIDATE : 0), r,
			  notes);
	for (i = 0; i < r->count; i++)
		say_verdict(r->item[i].warning ? LOG_WARNING : LOG_ERR,
			    r->item[i].warning ? "configuration warning" : "configuration error",
			    &r->item[i].v);
	if (r->dropped > 0)
		say(LOG_ERR, "configuration: %zu more problem(s) not logged", r->dropped);
	if (rc != 0)
		verdict_set(v, VERDICT_BAD_CONFIG, "the configuration has errors");
	for (i = 0; rc != 0 && i < r->count; i++) {
		if (!r->item[i].warning) {
			*v = r->item[i].v;
			break;
		}
	}
out:
	free(r);
	free(notes);
	return rc;
}

/* Read and check the config, the signing key and open the store; nothing is kept on
 * failure. */
static int load(const struct daemon *d, struct loaded *l, struct verdict *v)
{
	const char *bad_key;
	int rc = -1;

	memset(l, 0, sizeof(*l));
	if (config_init(&l->cfg) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	if (load_checked(d, &l->cfg, v) != 0)
		goto out;
	if (key_load_private(l->cfg.signing_key, JWA_INVALID, NULL, &l->key, &l->kid, v) != 0)
		goto out;
	/* checked against the policy once here, not at every signature */
	bad_key = jwa_key_prepare_signing(&l->key);
	if (bad_key != NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, bad_key);
		goto out;
	}
	if (session_store_open(&l->cfg, true, &l->st, v) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		loaded_clear(l);
	return rc;
}

/* The daemon verifies no tokens, but a (re)load is where the verification keys can be
 * reported once rather than at every login: keys skipped in a published key set, or a set
 * the module cannot use. Nothing here stops the daemon. */
static void report_verification_keys(const struct config *cfg)
{
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct verdict v;
	size_t i;
	int rc;

	if ((cfg->accept & CONFIG_ACCEPT_JWT) == 0)
		return;
	verdict_init(&v);
	rc = jwt_keyset_load(cfg, &ks, &notes, &v);
	for (i = 0; i < notes.count; i++)
		say(rc == 0 ? LOG_NOTICE : LOG_WARNING, "verification keys: %s", notes.line[i]);
	if (notes.dropped > 0)
		say(rc == 0 ? LOG_NOTICE : LOG_WARNING,
		    "verification keys: %zu more note(s) not logged", notes.dropped);
	if (rc != 0)
		say_verdict(LOG_WARNING, "verification keys unusable, logins with tokens will fail",
			    &v);
	keyset_free(ks);
}

static void adopt(struct daemon *d, struct loaded *l)
{
	config_free(&d->cfg);
	jwa_key_clear(&d->key);
	free(d->kid);
	store_close(d->st);
	store_watch_close(d->watch); /* the store may have moved: subscribe anew */
	d->watch = NULL;
	d->watch_retry_ms = 0;
	store_close(d->mirror);
	d->mirror = NULL;
	d->next_mirror_ms = 0;
	d->cfg = l->cfg;
	d->key = l->key;
	d->kid = l->kid;
	d->st = l->st;
	memset(l, 0, sizeof(*l));
}

/* SIGHUP (and the reload operation): a new config and key, or (if anything is wrong with
 * them) the old ones; v says why. */
static int reload(struct daemon *d, struct verdict *v)
{
	struct loaded l;
	int rc = -1;

	if (load(d, &l, v) != 0) {
		say_verdict(LOG_ERR, "reload refused, keeping the running configuration", v);
		goto out;
	}
	if (strcmp(l.cfg.socket_path, d->cfg.socket_path) != 0)
		say(LOG_WARNING, "socket_path changes only at restart; still listening on %s",
		    d->cfg.socket_path);
	free(l.cfg.socket_path);
	l.cfg.socket_path = strdup(d->cfg.socket_path);
	if (l.cfg.socket_path == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		say(LOG_ERR, "reload refused: out of memory");
		loaded_clear(&l);
		goto out;
	}
	adopt(d, &l);
	d->next_jwks_ms = monotonic_ms(); /* a new jwks_url or issuer: fetch now */
	d->jwks_again = d->jwks_pid > 0;  /* after the one that runs with the old settings */
	d->jwks_failures = 0;
	say(LOG_INFO, "configuration and signing key reloaded (kid=%s)",
	    d->kid != NULL ? d->kid : "-");
	report_verification_keys(&d->cfg);
	rc = 0;
out:
	return rc;
}

/* Revocations and locks kept in persist_dir come back into the store (after a reboot the
 * store is empty); pam-jwt-restore.service does the same before any login can start. */
static void restore_revocations(struct daemon *d)
{
	struct store *pst = NULL;
	struct verdict v;
	size_t copied = 0, unreadable = 0;

	verdict_init(&v);
	if (session_persist_open(&d->cfg, &pst, &v) != 0) {
		say_verdict(LOG_ERR, "persist_dir is unusable", &v);
		return;
	}
	if (pst == NULL)
		return;
	if (store_import_revocations(d->st, pst, clock_now(), &copied, &unreadable, &v) != 0)
		say_verdict(LOG_ERR, "cannot restore revocations", &v);
	else if (copied > 0 || unreadable > 0)
		say(LOG_INFO, "restored %zu revocation(s) and lock(s) from %s (%zu unreadable)",
		    copied, d->cfg.persist_dir, unreadable);
	store_close(pst);
}

/* ---- tracked sessions ------------------------------------------------------------------ */

/* The tracked sessions live in an array (compact, swap-removed); an open-addressing index
 * over it (linear probing, backward-shift deletion) finds one by digest in O(1). A slot
 * holds an array position + 1; 0 is empty. The index has at least twice as many slots as
 * there are tracked sessions. */
static size_t index_home(const struct daemon *d, const unsigned char *digest)
{
	uint64_t h;

	/* the digest is SHA-256: its first 8 bytes are as good as any hash */
	memcpy(&h, digest, sizeof(h));
	return (size_t)h & (d->index_cap - 1);
}

/* A session digest (64 lowercase hex digits) in binary; -1 if it is not one. */
static int digest_from_hex(const char *hex, unsigned char out[TRACKED_DIGEST_LEN])
{
	static const char digits[] = "0123456789abcdef";
	const char *hi, *lo;
	size_t i;
	int rc = -1;

	if (strlen(hex) != 2 * TRACKED_DIGEST_LEN)
		goto out;
	for (i = 0; i < TRACKED_DIGEST_LEN; i++) {
		hi = strchr(digits, hex[2 * i]);
		lo = strchr(digits, hex[2 * i + 1]);
		if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0' || hi == NULL || lo == NULL)
			goto out;
		out[i] = (unsigned char)((hi - digits) << 4 | (lo - digits));
	}
	rc = 0;
out:
	return rc;
}

static void digest_to_hex(const unsigned char digest[TRACKED_DIGEST_LEN],
			  char out[STORE_DIGEST_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < TRACKED_DIGEST_LEN; i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 15];
	}
	out[2 * TRACKED_DIGEST_LEN] = '\0';
}

/* The slot holding digest (*found), or the empty slot where it would go. */
static size_t index_slot(const struct daemon *d, const unsigned char *digest, bool *found)
{
	size_t slot = index_home(d, digest);

	*found = false;
	while (d->tracked_index[slot] != 0) {
		if (memcmp(d->tracked[d->tracked_index[slot] - 1].digest, digest,
			   TRACKED_DIGEST_LEN) == 0) {
			*found = true;
			break;
		}
		slot = (slot + 1) & (d->index_cap - 1);
	}
	return slot;
}

static int index_grow(struct daemon *d)
{
	size_t cap = d->index_cap == 0 ? 1024 : d->index_cap * 2, i;
	uint32_t *grown = calloc(cap, sizeof(*grown));
	bool found;
	int rc = -1;

	if (grown == NULL || cap > UINT32_MAX)
		goto out;
	free(d->tracked_index);
	d->tracked_index = grown;
	grown = NULL;
	d->index_cap = cap;
	for (i = 0; i < d->n_tracked; i++)
		d->tracked_index[index_slot(d, d->tracked[i].digest, &found)] = (uint32_t)(i + 1);
	rc = 0;
out:
	free(grown);
	return rc;
}

/* Empty a slot, moving later entries of its probe run back so that none becomes
 * unreachable. */
static void index_delete(struct daemon *d, size_t hole)
{
	size_t mask = d->index_cap - 1, next = hole, home;
	bool stays;

	for (;;) {
		next = (next + 1) & mask;
		if (d->tracked_index[next] == 0)
			break;
		home = index_home(d, d->tracked[d->tracked_index[next] - 1].digest);
		/* an entry stays if its home lies cyclically in (hole, next] */
		stays = hole < next ? (home > hole && home <= next) : (home > hole || home <= next);
		if (!stays) {
			d->tracked_index[hole] = d->tracked_index[next];
			hole = next;
		}
	}
	d->tracked_index[hole] = 0;
}

static struct tracked *tracked_find(struct daemon *d, const char *digest)
{
	unsigned char bin[TRACKED_DIGEST_LEN];
	struct tracked *t = NULL;
	size_t slot;
	bool found;

	if (d->index_cap == 0 || digest_from_hex(digest, bin) != 0)
		goto out;
	slot = index_slot(d, bin, &found);
	if (found)
		t = &d->tracked[d->tracked_index[slot] - 1];
out:
	return t;
}

static int tracked_add(struct daemon *d, const char *digest, uid_t uid, gid_t gid,
		       int64_t access_exp)
{
	struct tracked *t = tracked_find(d, digest), *grown;
	unsigned char bin[TRACKED_DIGEST_LEN];
	size_t cap;
	bool found;
	int rc = -1;

	if (t == NULL) {
		if (digest_from_hex(digest, bin) != 0)
			goto out;
		if (d->n_tracked == d->cap_tracked) {
			cap = d->cap_tracked == 0 ? 64 : d->cap_tracked * 2;
			grown = realloc(d->tracked, cap * sizeof(*grown));
			if (grown == NULL)
				goto out;
			d->tracked = grown;
			d->cap_tracked = cap;
		}
		if ((d->n_tracked + 1) * 2 > d->index_cap && index_grow(d) != 0)
			goto out;
		t = &d->tracked[d->n_tracked++];
		memset(t, 0, sizeof(*t));
		memcpy(t->digest, bin, sizeof(t->digest));
		d->tracked_index[index_slot(d, bin, &found)] = (uint32_t)d->n_tracked;
	}
	t->uid = uid;
	t->gid = gid;
	t->access_exp = access_exp;
	t->stalled = false;
	rc = 0;
out:
	return rc;
}

static void tracked_remove(struct daemon *d, const char *digest)
{
	unsigned char bin[TRACKED_DIGEST_LEN];
	size_t slot, pos, last;
	bool found;

	if (d->index_cap == 0 || digest_from_hex(digest, bin) != 0)
		goto out;
	slot = index_slot(d, bin, &found);
	if (!found)
		goto out;
	pos = d->tracked_index[slot] - 1;
	index_delete(d, slot);
	last = d->n_tracked - 1;
	if (pos != last) {
		/* the last entry moves into the gap; its index slot follows it */
		slot = index_slot(d, d->tracked[last].digest, &found);
		d->tracked_index[slot] = (uint32_t)(pos + 1);
		d->tracked[pos] = d->tracked[last];
	}
	d->n_tracked--;
out:
	return;
}

/* Sessions with tokens, found in the store at start, are kept fresh again. */
struct track_scan {
	struct daemon *d;
	uid_t last_uid; /* one passwd lookup per run of sessions of one uid */
	gid_t last_gid;
	bool have_last;
};

static int track_scanned(const struct store_session *sess, void *ctx_)
{
	struct track_scan *ctx = ctx_;
	const struct passwd *pw;

	if (!sess->tokens)
		goto out;
	if (!ctx->have_last || sess->uid != ctx->last_uid) {
		pw = getpwuid(sess->uid);
		ctx->last_uid = sess->uid;
		ctx->last_gid = pw != NULL ? pw->pw_gid : 0;
		ctx->have_last = true;
	}
	if (tracked_add(ctx->d, sess->digest, sess->uid, ctx->last_gid, 0) != 0)
		say(LOG_ERR, "out of memory: session %.*s is not kept fresh",
		    SESSION_DIGEST_SHOWN, sess->digest);
out:
	return 0;
}

/* ---- ending live logins ------------------------------------------------------------------ */

static void ending_add(struct daemon *d, int pidfd, pid_t pid)
{
	struct ending *grown;
	size_t cap;

	if (d->n_ending == d->cap_ending) {
		cap = d->cap_ending == 0 ? 16 : d->cap_ending * 2;
		grown = realloc(d->ending, cap * sizeof(*grown));
		if (grown == NULL) {
			/* no room to wait: end it now */
			(void)leader_signal(pidfd, SIGKILL, NULL);
			close(pidfd);
			return;
		}
		d->ending = grown;
		d->cap_ending = cap;
	}
	d->ending[d->n_ending].pidfd = pidfd;
	d->ending[d->n_ending].pid = pid;
	d->ending[d->n_ending].kill_at = monotonic_ms() + d->cfg.revoke_kill_after * 1000;
	d->n_ending++;
}

/* A session went (revoked, reused refresh token, expired): its keyring entries go, and its
 * login's leader gets SIGHUP now and SIGKILL after the grace period. */
static int end_login(const struct store_session *sess, void *ctx)
{
	struct daemon *d = ctx;
	const char *reason = NULL;
	bool removed = false;
	int pidfd = -1, rc;

	tracked_remove(d, sess->digest);
	if (keyring_remove_session(sess->uid, sess->digest, &removed, &reason) != 0)
		say(LOG_WARNING, "session %.*s: keyring not cleared: %s", SESSION_DIGEST_SHOWN,
		    sess->digest, reason);
	if (sess->leader_pid <= 1 || sess->leader_start == 0) {
		say(LOG_NOTICE, "session %.*s ended; its login has no known leader process",
		    SESSION_DIGEST_SHOWN, sess->digest);
		goto out;
	}
	if (!leader_is_here(sess->boot)) {
		say(LOG_NOTICE, "session %.*s ended; its login runs on another host",
		    SESSION_DIGEST_SHOWN, sess->digest);
		goto out;
	}
	rc = leader_open(sess->leader_pid, sess->leader_start, &pidfd, &reason);
	if (rc != 0) {
		if (rc < 0)
			say(LOG_WARNING, "session %.*s: cannot reach its leader %d: %s",
			    SESSION_DIGEST_SHOWN, sess->digest, (int)sess->leader_pid, reason);
		goto out;
	}
	if (leader_signal(pidfd, SIGHUP, &reason) != 0) {
		close(pidfd);
		goto out;
	}
	d->logins_ended++;
	say(LOG_NOTICE, "session %.*s of user %s ended: SIGHUP to pid %d",
	    SESSION_DIGEST_SHOWN, sess->digest, sess->user, (int)sess->leader_pid);
	ending_add(d, pidfd, sess->leader_pid);
out:
	return 0;
}

static void endings_run(struct daemon *d)
{
	int64_t now = monotonic_ms();
	size_t i = 0;

	while (i < d->n_ending) {
		struct ending *e = &d->ending[i];

		if (leader_wait(e->pidfd, 0) == 0) {
			/* gone */
		} else if (now >= e->kill_at) {
			(void)leader_signal(e->pidfd, SIGKILL, NULL);
			say(LOG_NOTICE, "pid %d still there after %lld s: SIGKILL", (int)e->pid,
			    (long long)d->cfg.revoke_kill_after);
		} else {
			i++;
			continue;
		}
		close(e->pidfd);
		*e = d->ending[--d->n_ending];
	}
}

/* ---- tokens -------------------------------------------------------------------------------- */

static char *random_jti(void)
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	return b64url_encode_alloc(raw, sizeof(raw));
}

/* The answer to a client that names an audience the admin did not allow. */
#define AUDIENCE_REFUSED "pam-jwtd does not mint tokens for this audience (see token_audiences)"

/* Whether a client may have a token for the audience it named (NULL: none named, the
 * configured audience). Tokens are bearer credentials that every process of their user can
 * read, so an audience that another service (sudo) accepts must never be theirs to ask for. */
static bool audience_allowed(const struct daemon *d, const char *aud)
{
	return aud == NULL || config_token_audience_allowed(&d->cfg, aud);
}

/* An access token for a live session: sub (and the configured user claim), sid, jti, iat,
 * exp (no later than the session), iss and aud when known. aud (NULL: the configured one)
 * must be allowed: callers check first, to answer with AUDIENCE_REFUSED. */
static char *mint_access(struct daemon *d, const struct store_session *sess, const char *aud,
			 int64_t now, int64_t *exp_out)
{
	json_t *claims = json_object();
	char *jti = random_jti(), *token = NULL;
	int64_t exp = now + d->cfg.access_ttl;
	struct verdict v;
	int bad = 0;

	if (exp > sess->expires)
		exp = sess->expires;
	if (!audience_allowed(d, aud))
		goto out;
	if (aud == NULL)
		aud = d->cfg.audience;
	if (claims == NULL || jti == NULL)
		goto out;
	bad |= json_object_set_new(claims, "sub", json_string(sess->user));
	/* the user claim as this host reads it back (path, user_domain, user_map) */
	verdict_init(&v);
	bad |= claims_set_user(&d->cfg, claims, sess->user, &v) != 0;
	if (d->cfg.issuer != NULL)
		bad |= json_object_set_new(claims, "iss", json_string(d->cfg.issuer));
	if (aud != NULL)
		bad |= json_object_set_new(claims, "aud", json_string(aud));
	bad |= json_object_set_new(claims, "sid", json_string(sess->digest));
	bad |= json_object_set_new(claims, "jti", json_string(jti));
	bad |= json_object_set_new(claims, "iat", json_integer(now));
	bad |= json_object_set_new(claims, "exp", json_integer(exp));
	if (bad)
		goto out;
	token = jwt_mint(&d->key, d->kid, claims);
	if (token != NULL && exp_out != NULL)
		*exp_out = exp;
out:
	json_decref(claims);
	free(jti);
	return token;
}

static void token_free(char *token)
{
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	free(token);
}

/* Replace the access token in the keyring of a tracked session, if the keyring still
 * holds that session; untrack it otherwise. A locked user's sessions stay tracked and are
 * looked at again every TRACKED_STALL_RETRY seconds (an unlock through pam-jwtd resumes
 * them at once) unless end_on_refresh_failure ends them. */
static void keyring_refresh(struct daemon *d, struct tracked *t, int64_t now)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], *token = NULL;
	struct store_session sess;
	struct verdict v;
	const char *reason = NULL;
	int64_t exp = 0;
	bool fail = false, held = false, put = false;

	verdict_init(&v);
	digest_to_hex(t->digest, digest);
	if (store_session_get_digest(d->st, digest, &sess, &v) != 0 ||
	    store_session_check(d->st, &sess, sess.user, NULL, false, now, &v) != 0) {
		say(LOG_INFO, "session %.*s: no longer refreshed: %s", SESSION_DIGEST_SHOWN,
		    digest, v.reason);
		fail = v.code == VERDICT_REJECT && sess.user[0] != '\0';
		tracked_remove(d, digest);
		goto out;
	}
	if (keyring_holds_session(sess.uid, digest, &held, &reason) != 0) {
		/* the user can make their keyring unreadable: a failure, as a failed put is */
		say(LOG_ERR, "session %.*s: cannot renew its access token: keyring: %s",
		    SESSION_DIGEST_SHOWN, digest, reason);
		fail = true;
		t->access_exp = now + d->cfg.refresh_ahead + TRACKED_RETRY;
		goto out;
	}
	if (!held) {
		/* the keyring holds another login's session now, or none */
		say(LOG_DEBUG, "session %.*s: not in its keyring any more", SESSION_DIGEST_SHOWN,
		    digest);
		tracked_remove(d, digest);
		goto out;
	}
	if (store_user_check(d->st, sess.user, now, &v) != 0) {
		fail = v.code == VERDICT_REJECT;
		if (!t->stalled)
			say(LOG_INFO, "session %.*s: access token not renewed while %s",
			    SESSION_DIGEST_SHOWN, digest, v.reason);
		t->stalled = true;
		t->access_exp = now + d->cfg.refresh_ahead + TRACKED_STALL_RETRY;
		goto out;
	}
	token = mint_access(d, &sess, NULL, now, &exp);
	if (token == NULL ||
	    keyring_put_if_session(sess.uid, t->gid, digest, KEYRING_ACCESS, token, strlen(token),
				   &put, &reason) != 0) {
		say(LOG_ERR, "session %.*s: cannot renew its access token: %s",
		    SESSION_DIGEST_SHOWN, digest, token == NULL ? "cannot sign" : reason);
		fail = true;
		t->access_exp = now + d->cfg.refresh_ahead + TRACKED_RETRY;
		goto out;
	}
	if (!put) {
		tracked_remove(d, digest);
		goto out;
	}
	if (t->stalled)
		say(LOG_INFO, "session %.*s: access token renewed again", SESSION_DIGEST_SHOWN,
		    digest);
	t->stalled = false;
	/* a token that lasts as long as its session needs no renewal: the sweep ends both */
	t->access_exp = exp >= sess.expires ? INT64_MAX : exp;
	say(LOG_DEBUG, "session %.*s: access token renewed", SESSION_DIGEST_SHOWN, digest);
out:
	if (fail && d->cfg.end_on_refresh_failure && sess.user[0] != '\0')
		(void)store_session_revoke(d->st, digest, end_login, d, NULL, &v);
	token_free(token);
}

/* Renew the keyring access tokens that are about to expire, for at most TICK_BUDGET_MS so
 * that clients are answered meanwhile (after a restart every tracked session is due at
 * once). The walk resumes where the last one stopped, so every session gets its turn.
 * Returns true when it ran out of time with sessions left to look at. */
static bool keyring_tick(struct daemon *d)
{
	int64_t now = clock_now(), deadline = monotonic_ms() + TICK_BUDGET_MS;
	size_t seen = 0, n;
	bool due, more = false;

	while (seen < d->n_tracked) {
		if (d->tick_cursor >= d->n_tracked)
			d->tick_cursor = 0;
		n = d->n_tracked;
		due = d->tracked[d->tick_cursor].access_exp - now <= d->cfg.refresh_ahead;
		if (due)
			keyring_refresh(d, &d->tracked[d->tick_cursor], now);
		/* a removed entry's place holds the last one now: that place is looked at again */
		if (d->n_tracked == n) {
			d->tick_cursor++;
			seen++;
		}
		if (due && monotonic_ms() >= deadline) {
			more = true;
			break;
		}
	}
	return more;
}

/* pam-jwtd unlocked a user: that user's stalled sessions are renewed at the next tick. */
static void tracked_resume_uid(struct daemon *d, uid_t uid)
{
	size_t i;

	for (i = 0; i < d->n_tracked; i++)
		if (d->tracked[i].uid == uid && d->tracked[i].stalled)
			d->tracked[i].access_exp = 0;
}

/* ---- a shared store: logins that other hosts revoke ------------------------------------- */

static bool ending_has(const struct daemon *d, pid_t pid)
{
	size_t i;

	for (i = 0; i < d->n_ending; i++)
		if (d->ending[i].pid == pid)
			return true;
	return false;
}

/* A session revoked on some host: if its login runs here, it ends. */
static int watch_ended(const struct store_session *sess, void *ctx)
{
	struct daemon *d = ctx;

	if (sess->leader_pid <= 1 || sess->boot[0] == '\0' || !leader_is_here(sess->boot) ||
	    ending_has(d, sess->leader_pid))
		return 0;
	return end_login(sess, d);
}

struct local_ctx {
	struct store_session *list;
	size_t n;
	bool failed;
};

static int local_collect(const struct store_session *sess, void *ctx_)
{
	struct local_ctx *ctx = ctx_;
	struct store_session *grown;

	if (sess->leader_pid <= 1 || sess->leader_start == 0 || sess->boot[0] == '\0' ||
	    !leader_is_here(sess->boot))
		return 0;
	grown = realloc(ctx->list, (ctx->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		ctx->failed = true;
		return 1;
	}
	ctx->list = grown;
	ctx->list[ctx->n++] = *sess;
	return 0;
}

/* What the announcements may have missed (while unsubscribed): a session of this host that
 * was in the store at the last look, is gone now and left the mark of a revocation was
 * revoked; its login ends. A session that is merely gone (its user logged out, or a
 * Redis that lost its data) ends nothing. */
static void watch_reconcile(struct daemon *d)
{
	struct local_ctx now;
	struct verdict v;
	size_t i, j;

	if (d->watch == NULL)
		return;
	memset(&now, 0, sizeof(now));
	verdict_init(&v);
	if (store_session_scan(d->st, NULL, local_collect, &now, NULL, &v) != 0 || now.failed) {
		say(LOG_ERR, "cannot list this host's sessions in the shared store: %s",
		    now.failed ? "out of memory" : v.reason);
		free(now.list);
		return;
	}
	for (i = 0; i < d->n_local; i++) {
		for (j = 0; j < now.n; j++)
			if (strcmp(now.list[j].digest, d->local[i].digest) == 0)
				break;
		if (j == now.n && store_session_was_revoked(d->st, d->local[i].digest) == 1)
			(void)watch_ended(&d->local[i], d);
	}
	free(d->local);
	d->local = now.list;
	d->n_local = now.n;
}

/* Subscribe when the store is shared and there is no subscription. */
static void watch_start(struct daemon *d, int64_t now_ms)
{
	struct verdict v;
	int rc;

	if (d->watch != NULL || now_ms < d->watch_retry_ms ||
	    !store_location_is_redis(config_store_location(&d->cfg)))
		return;
	verdict_init(&v);
	rc = session_watch_open(&d->cfg, &d->watch, &v);
	if (rc != 0) {
		if (!d->watch_failing)
			say(LOG_ERR, "cannot watch the shared store for revocations (retrying every "
			    "%d s): %s", WATCH_RETRY_MS / 1000, v.reason);
		d->watch_failing = true;
		d->watch_retry_ms = now_ms + WATCH_RETRY_MS;
		return;
	}
	say(LOG_INFO, "watching the shared store for sessions revoked on any host");
	d->watch_failing = false;
	watch_reconcile(d);
}

static void watch_read(struct daemon *d)
{
	struct verdict v;

	verdict_init(&v);
	if (store_watch_read(d->watch, 0, watch_ended, d, &v) == 0)
		return;
	say(LOG_ERR, "the watch on the shared store broke: %s", v.reason);
	store_watch_close(d->watch);
	d->watch = NULL;
	d->watch_retry_ms = monotonic_ms() + WATCH_RETRY_MS;
}

/* ---- the mirror ------------------------------------------------------------------------------ */

/* With store_unavailable = last_known, logins that cannot reach the shared store check
 * revocations and locks in a mirror that this daemon renews in store_dir every
 * MIRROR_SYNC_MS. A renewal that fails leaves the mirror to age: past max_staleness the
 * logins refuse. */
static void mirror_sync(struct daemon *d, int64_t now_ms)
{
	struct verdict v;
	size_t written = 0;

	if (now_ms < d->next_mirror_ms || d->cfg.store == NULL ||
	    d->cfg.store_unavailable != CONFIG_STORE_UNAVAILABLE_LAST_KNOWN)
		return;
	d->next_mirror_ms = now_ms + MIRROR_SYNC_MS;
	verdict_init(&v);
	if (d->mirror == NULL) {
		/* store_dir is not used otherwise with a shared store: make it if need be */
		if (mkdir(d->cfg.store_dir, 0700) != 0 && errno != EEXIST) {
			verdict_set(&v, VERDICT_UNAVAILABLE, "cannot create store_dir");
			goto failed;
		}
		if (session_mirror_open(&d->cfg, &d->mirror, &v) != 0)
			goto failed;
	}
	if (store_mirror_sync(d->mirror, d->st, clock_now(), &written, &v) != 0)
		goto failed;
	if (d->mirror_failing || written > 0)
		say(LOG_INFO, "mirror of revocations and locks in %s renewed (%zu record(s) "
		    "changed)", d->cfg.store_dir, written);
	d->mirror_failing = false;
	return;
failed:
	if (!d->mirror_failing)
		say(LOG_ERR, "cannot renew the mirror of revocations and locks in %s (retrying "
		    "every %d s; logins refuse once it is older than max_staleness): %s",
		    d->cfg.store_dir, MIRROR_SYNC_MS / 1000, v.reason);
	d->mirror_failing = true;
}

/* ---- the sweep ------------------------------------------------------------------------------ */

struct sweep_ctx {
	struct daemon *d;
	int64_t now;
	struct store_session *expired;
	size_t n_expired;
	bool failed;
};

static int sweep_collect(const struct store_session *sess, void *ctx_)
{
	struct sweep_ctx *ctx = ctx_;
	struct store_session *grown;

	if (sess->expires > ctx->now || sess->leader_pid <= 1)
		return 0;
	grown = realloc(ctx->expired, (ctx->n_expired + 1) * sizeof(*grown));
	if (grown == NULL) {
		ctx->failed = true;
		return 1;
	}
	ctx->expired = grown;
	ctx->expired[ctx->n_expired++] = *sess;
	return 0;
}

/* Sessions past their absolute expiry end their logins; then the store is swept. */
static void sweep(struct daemon *d)
{
	struct sweep_ctx ctx;
	struct verdict v;
	size_t i, removed = 0;

	memset(&ctx, 0, sizeof(ctx));
	ctx.d = d;
	ctx.now = clock_now();
	verdict_init(&v);
	if (store_session_scan(d->st, NULL, sweep_collect, &ctx, NULL, &v) != 0 || ctx.failed)
		say(LOG_ERR, "sweep: cannot scan the store: %s", ctx.failed ? "out of memory" :
										  v.reason);
	for (i = 0; i < ctx.n_expired; i++) {
		say(LOG_INFO, "session %.*s of user %s reached its expiry", SESSION_DIGEST_SHOWN,
		    ctx.expired[i].digest, ctx.expired[i].user);
		(void)store_session_revoke(d->st, ctx.expired[i].digest, end_login, d, NULL, &v);
	}
	free(ctx.expired);
	/* sessions whose lineage broke (a revocation raced their login) end too */
	if (store_gc(d->st, ctx.now, end_login, d, &removed, &v) != 0)
		say_verdict(LOG_ERR, "sweep", &v);
	else if (removed > 0)
		say(LOG_INFO, "sweep: %zu record(s) removed", removed);
}

/* ---- requests ------------------------------------------------------------------------------ */

struct caller {
	uid_t uid;
	gid_t gid;
	bool root;
};

/* An answer with the members given as (name, json_t *) pairs, NULL-terminated. */
static char *answer_with(const char *first, ...)
{
	json_t *body = json_object();
	const char *name;
	json_t *value;
	char *msg = NULL;
	va_list ap;
	int bad = body == NULL;

	va_start(ap, first);
	for (name = first; name != NULL; name = va_arg(ap, const char *)) {
		value = va_arg(ap, json_t *);
		bad |= value == NULL || body == NULL || json_object_set_new(body, name, value) != 0;
	}
	va_end(ap);
	if (!bad)
		msg = proto_answer_ok(body);
	json_decref(body);
	return msg;
}

static char *answer_verdict(const struct verdict *v)
{
	return proto_answer_error(v->reason != NULL ? v->reason : "refused");
}

/* Whether the caller may act on a session of this uid. */
static bool owns(const struct caller *c, uid_t uid)
{
	return c->root || c->uid == uid;
}

static char *op_status(struct daemon *d, struct client *cl, const struct caller *c,
		       const struct proto_request *req)
{
	json_t *body = json_object();
	char *msg = NULL;
	int bad = body == NULL;
	(void)cl;
	(void)req;

	if (bad)
		goto out;
	bad |= json_object_set_new(body, "version", json_string(PAM_JWTD_VERSION));
	bad |= json_object_set_new(body, "uptime", json_integer(clock_now() - d->started));
	if (c->root) {
		bad |= json_object_set_new(body, "kept_fresh", json_integer((json_int_t)d->n_tracked));
		bad |= json_object_set_new(body, "ending", json_integer((json_int_t)d->n_ending));
		bad |= json_object_set_new(body, "requests", json_integer((json_int_t)d->requests));
		bad |= json_object_set_new(body, "refreshes", json_integer((json_int_t)d->refreshes));
		bad |= json_object_set_new(body, "reuse_detected",
					   json_integer((json_int_t)d->reuses));
		bad |= json_object_set_new(body, "logins_ended",
					   json_integer((json_int_t)d->logins_ended));
		bad |= json_object_set_new(body, "store", json_string(config_store_location(&d->cfg)));
	}
	if (!bad)
		msg = proto_answer_ok(body);
out:
	json_decref(body);
	return msg;
}

/* Mint and record access + refresh tokens for a session (root: the module at open). */
static char *op_open(struct daemon *d, struct client *cl, const struct caller *c,
	             const struct proto_request *req)
{
	char refresh[STORE_SESSION_ID_LEN + 1], *token = NULL, *msg = NULL;
	struct store_session sess;
	struct store_refresh rec;
	struct verdict v;
	const struct passwd *pw;
	int64_t now = clock_now(), exp = 0;
	(void)cl;
	(void)c;

	verdict_init(&v);
	memset(&rec, 0, sizeof(rec));
	refresh[0] = '\0';
	if (!audience_allowed(d, req->aud)) {
		msg = proto_answer_error(AUDIENCE_REFUSED);
		goto out;
	}
	if (store_session_get_digest(d->st, req->session, &sess, &v) != 0 ||
	    store_user_check(d->st, sess.user, now, &v) != 0 ||
	    store_session_check(d->st, &sess, sess.user, NULL, false, now, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	memcpy(rec.session, sess.digest, sizeof(rec.session));
	rec.expires = now + d->cfg.refresh_ttl;
	token = mint_access(d, &sess, req->aud, now, &exp);
	if (token == NULL || store_refresh_id_new(refresh) != 0) {
		msg = proto_answer_error("cannot make tokens");
		goto out;
	}
	if (store_refresh_put(d->st, refresh, &rec, now, &v) != 0 ||
	    store_session_set_tokens(d->st, sess.digest, true, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	pw = getpwuid(sess.uid);
	if (tracked_add(d, sess.digest, sess.uid, pw != NULL ? pw->pw_gid : 0, exp) != 0)
		say(LOG_ERR, "out of memory: session %.*s is not kept fresh", SESSION_DIGEST_SHOWN,
		    sess.digest);
	say(LOG_INFO, "tokens issued for session %.*s of user %s", SESSION_DIGEST_SHOWN,
	    sess.digest, sess.user);
	msg = answer_with("access_token", json_string(token), "refresh_token", json_string(refresh),
			  "token_type", json_string("Bearer"), "expires_in", json_integer(exp - now),
			  "session", json_string(sess.digest), NULL);
out:
	OPENSSL_cleanse(refresh, sizeof(refresh));
	token_free(token);
	return msg;
}

/* The keyring of a login could not take its new tokens (the user's key quota may be full:
 * the user can fill it). Its refresh token there is spent now, and presenting it later
 * would look like theft and end the session: so the login's keyring entries go (when the
 * keyring still holds this session), and the daemon stops keeping them fresh. */
static void keyring_write_failed(struct daemon *d, const struct store_session *sess,
				 const char *reason)
{
	const char *why = NULL;
	bool removed = false;

	if (keyring_remove_session(sess->uid, sess->digest, &removed, &why) != 0)
		say(LOG_ERR, "session %.*s: new tokens not put in the keyring (%s), and its "
		    "spent refresh token could not be removed from there: %s",
		    SESSION_DIGEST_SHOWN, sess->digest, reason, why);
	else
		say(LOG_WARNING, "session %.*s: new tokens not put in the keyring (%s): its "
		    "keyring entries were removed, so that no spent refresh token stays there",
		    SESSION_DIGEST_SHOWN, sess->digest, reason);
	tracked_remove(d, sess->digest);
}

static char *op_refresh(struct daemon *d, struct client *cl, const struct caller *c,
			const struct proto_request *req)
{
	char fresh[STORE_SESSION_ID_LEN + 1], *token = NULL, *msg = NULL;
	struct store_refresh rec, next;
	struct store_session sess;
	struct tracked *t;
	struct verdict v;
	const char *reason = NULL;
	int64_t now = clock_now(), exp = 0;
	bool reuse = false, put = false;
	(void)cl;

	verdict_init(&v);
	fresh[0] = '\0';
	if (store_refresh_get(d->st, req->refresh_token, &rec, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	if (!owns(c, rec.uid)) {
		msg = proto_answer_error("refresh token belongs to another user");
		goto out;
	}
	/* whatever can refuse comes before the rotation: a client must never lose its token
	 * to a refusal (its retry would look like reuse) */
	if (store_session_get_digest(d->st, rec.session, &sess, &v) == 0 &&
	    store_user_check(d->st, sess.user, now, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	token = sess.user[0] != '\0' ? mint_access(d, &sess, NULL, now, &exp) : NULL;
	if (sess.user[0] != '\0' && token == NULL) {
		msg = proto_answer_error("cannot make tokens");
		goto out;
	}
	/* the family's next token comes from the store */
	if (store_refresh_rotate(d->st, req->refresh_token, fresh, now + d->cfg.refresh_ttl, now,
				 &next, &sess, &reuse, end_login, d, &v) != 0) {
		if (reuse) {
			d->reuses++;
			say(LOG_WARNING, "refresh token reuse: session %.*s of user %s revoked",
			    SESSION_DIGEST_SHOWN, rec.session, rec.user);
		}
		msg = answer_verdict(&v);
		goto out;
	}
	if (token == NULL) {
		msg = proto_answer_error("cannot make tokens");
		goto out;
	}
	d->refreshes++;
	/* a login that keeps its tokens in the keyring gets the new ones there too */
	t = tracked_find(d, sess.digest);
	if (t != NULL &&
	    keyring_put_if_session(sess.uid, t->gid, sess.digest, KEYRING_ACCESS, token,
				   strlen(token), &put, &reason) == 0 && put &&
	    keyring_put_if_session(sess.uid, t->gid, sess.digest, KEYRING_REFRESH, fresh,
				   strlen(fresh), &put, &reason) == 0 && put)
		t->access_exp = exp;
	else if (t != NULL && reason == NULL)
		tracked_remove(d, sess.digest); /* its keyring holds another session, or none */
	else if (t != NULL)
		keyring_write_failed(d, &sess, reason);
	msg = answer_with("access_token", json_string(token), "refresh_token", json_string(fresh),
			  "token_type", json_string("Bearer"), "expires_in", json_integer(exp - now),
			  NULL);
out:
	OPENSSL_cleanse(fresh, sizeof(fresh));
	token_free(token);
	return msg;
}

/* A caller's own live session, by its ID. */
static int own_session(struct daemon *d, const struct caller *c, const char *session_id,
		       int64_t now, struct store_session *sess, struct verdict *v)
{
	int rc = -1;

	if (store_session_get(d->st, session_id, sess, v) != 0)
		goto out;
	if (!owns(c, sess->uid)) {
		verdict_set(v, VERDICT_REJECT, "session belongs to another user");
		goto out;
	}
	if (store_user_check(d->st, sess->user, now, v) != 0 ||
	    store_session_check(d->st, sess, sess->user, NULL, false, now, v) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

static char *op_token(struct daemon *d, struct client *cl, const struct caller *c,
		      const struct proto_request *req)
{
	struct store_session sess;
	struct verdict v;
	char *token = NULL, *msg = NULL;
	int64_t now = clock_now(), exp = 0;
	(void)cl;

	verdict_init(&v);
	if (own_session(d, c, req->session_id, now, &sess, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	if (!audience_allowed(d, req->aud)) {
		msg = proto_answer_error(AUDIENCE_REFUSED);
		goto out;
	}
	token = mint_access(d, &sess, req->aud, now, &exp);
	if (token == NULL) {
		msg = proto_answer_error("cannot make tokens");
		goto out;
	}
	msg = answer_with("access_token", json_string(token), "token_type", json_string("Bearer"),
			  "expires_in", json_integer(exp - now), NULL);
out:
	token_free(token);
	return msg;
}

static char *op_logout(struct daemon *d, struct client *cl, const struct caller *c,
	               const struct proto_request *req)
{
	struct store_session sess;
	struct verdict v;
	size_t count = 0;
	char *msg = NULL;
	(void)cl;

	verdict_init(&v);
	if (store_session_get(d->st, req->session_id, &sess, &v) != 0 || !owns(c, sess.uid)) {
		msg = proto_answer_error(v.code != VERDICT_OK ? v.reason :
								"session belongs to another user");
		goto out;
	}
	if (store_session_revoke(d->st, sess.digest, end_login, d, &count, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	say(LOG_INFO, "user %s logged out of session %.*s (%zu session(s) ended)", sess.user,
	    SESSION_DIGEST_SHOWN, sess.digest, count);
	msg = answer_with("revoked", json_integer((json_int_t)count), NULL);
out:
	return msg;
}

/* Tell the persistent directory about an admin change. The answer says whether it took
 * ("persisted") and, when persist_dir is there but failed, why ("persist_error"; null
 * otherwise): the change is in force either way, but only a kept one survives a reboot. */
/* An admin change (core/admin.c), its logins ended through end_login. The answer's
 * "persisted" and "persist_error" say whether persist_dir kept a revocation or lock. */
static int admin_do(struct daemon *d, const struct admin_request *req, struct admin_result *res,
		    struct verdict *v)
{
	int rc = admin_run(d->st, &d->cfg, req, clock_now(), end_login, d, res, v);

	if (res->persisted < 0)
		say_verdict(LOG_ERR, "not kept across reboots", &res->persist_v);
	return rc;
}

static json_t *persisted_json(const struct admin_result *res)
{
	return json_boolean(res->persisted > 0);
}

static json_t *persist_error_json(const struct admin_result *res)
{
	return res->persisted < 0 ? json_string(res->persist_v.reason != NULL ?
						 res->persist_v.reason : "unknown error") :
				    json_null();
}

static char *op_revoke(struct daemon *d, struct client *cl, const struct caller *c,
		       const struct proto_request *req)
{
	struct admin_request areq;
	struct admin_result res;
	struct verdict v;
	char when[ISO_TIME_LEN], *msg = NULL;

	(void)cl;

	memset(&areq, 0, sizeof(areq));
	areq.op = req->session != NULL ? ADMIN_REVOKE_SESSION :
		  req->user != NULL ? ADMIN_REVOKE_USER : ADMIN_REVOKE_JTI;
	areq.session = req->session;
	areq.user = req->user;
	areq.jti = req->jti;
	areq.exp = req->has_exp ? req->exp : 0;
	if (areq.op == ADMIN_REVOKE_JTI && req->has_exp && req->exp == 0) {
		msg = proto_answer_error("exp is in the past");
		goto out;
	}
	if (admin_do(d, &areq, &res, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	switch (areq.op) {
	case ADMIN_REVOKE_SESSION:
		say(LOG_NOTICE, "session %.*s revoked (%zu session(s)) by uid %u",
		    SESSION_DIGEST_SHOWN, res.session, res.count, (unsigned)c->uid);
		msg = answer_with("revoked", json_integer((json_int_t)res.count), "session",
				  json_string(res.session), NULL);
		break;
	case ADMIN_REVOKE_USER:
		say(LOG_NOTICE, "all %zu session(s) of user %s revoked by uid %u", res.count,
		    res.account, (unsigned)c->uid);
		msg = answer_with("revoked", json_integer((json_int_t)res.count), NULL);
		break;
	default:
		iso_time(res.exp, when);
		say(LOG_NOTICE, "token id revoked until %s (%zu session(s)) by uid %u", when,
		    res.count, (unsigned)c->uid);
		msg = answer_with("revoked", json_integer((json_int_t)res.count), "exp",
				  json_integer(res.exp), "persisted", persisted_json(&res),
				  "persist_error", persist_error_json(&res), NULL);
		break;
	}
out:
	return msg;
}

static char *lock_change(struct daemon *d, const struct caller *c,
			 const struct proto_request *req, bool lock)
{
	const struct passwd *pw;
	struct admin_request areq;
	struct admin_result res;
	struct verdict v;
	char until[ISO_TIME_LEN], *msg = NULL;

	memset(&areq, 0, sizeof(areq));
	areq.op = lock ? ADMIN_LOCK : ADMIN_UNLOCK;
	areq.user = req->user;
	areq.until = req->has_until ? req->until : 0;
	areq.end_logins = req->has_end_logins && req->end_logins != 0;
	if (admin_do(d, &areq, &res, &v) != 0) {
		msg = answer_verdict(&v);
		goto out;
	}
	if (!lock)
		snprintf(until, sizeof(until), "-");
	else if (areq.until == 0)
		snprintf(until, sizeof(until), "unlocked");
	else
		iso_time(areq.until, until);
	if (lock)
		say(LOG_NOTICE, "user %s locked until %s by uid %u", res.account, until,
		    (unsigned)c->uid);
	else
		say(LOG_NOTICE, "user %s unlocked by uid %u", res.account, (unsigned)c->uid);
	if (areq.end_logins)
		say(LOG_NOTICE, "all %zu session(s) of locked user %s revoked by uid %u", res.count,
		    res.account, (unsigned)c->uid);
	pw = lock ? NULL : getpwnam(res.account);
	if (pw != NULL)
		tracked_resume_uid(d, pw->pw_uid);
	msg = answer_with("persisted", persisted_json(&res), "persist_error",
			  persist_error_json(&res), "revoked", json_integer((json_int_t)res.count),
			  NULL);
out:
	return msg;
}

struct listing {
	json_t *list;
	size_t total;
	bool failed;
};

static int list_one(const struct store_session *sess, void *ctx_)
{
	struct listing *ctx = ctx_;
	json_t *o;

	ctx->total++;
	if (ctx->total > SESSIONS_LISTED_MAX)
		return 0;
	/* the same members as pam-jwtctl sessions --json */
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}",
		      "digest", sess->digest, "user", sess->user, "uid", (json_int_t)sess->uid,
		      "service", sess->service, "tty", sess->tty, "rhost", sess->rhost,
		      "host", sess->host,
		      "pid", (json_int_t)sess->leader_pid, "created", (json_int_t)sess->created,
		      "expires", (json_int_t)sess->expires,
		      "idle_timeout", (json_int_t)sess->idle_timeout,
		      "last_seen", (json_int_t)sess->last_seen, "parent", sess->parent);
	if (o == NULL || json_array_append_new(ctx->list, o) != 0)
		ctx->failed = true;
	return ctx->failed;
}

static char *op_sessions(struct daemon *d, struct client *cl, const struct caller *c,
			 const struct proto_request *req)
{
	struct listing ctx;
	struct verdict v;
	const struct passwd *pw = NULL;
	const char *user = req->user;
	char *msg = NULL;
	(void)cl;

	verdict_init(&v);
	memset(&ctx, 0, sizeof(ctx));
	if (!c->root) {
		pw = getpwuid(c->uid);
		if (pw == NULL || (user != NULL && strcmp(user, pw->pw_name) != 0)) {
			msg = proto_answer_error("you may list only your own sessions");
			goto out;
		}
		user = pw->pw_name;
	}
	ctx.list = json_array();
	if (ctx.list == NULL ||
	    store_session_scan(d->st, user, list_one, &ctx, NULL, &v) != 0 || ctx.failed) {
		msg = proto_answer_error(ctx.failed || ctx.list == NULL ? "out of memory" : v.reason);
		goto out;
	}
	msg = answer_with("sessions", json_incref(ctx.list), "total",
			  json_integer((json_int_t)ctx.total), NULL);
out:
	json_decref(ctx.list);
	return msg;
}

static char *op_gc(struct daemon *d, struct client *cl, const struct caller *c,
		   const struct proto_request *req)
{
	struct admin_request areq;
	struct admin_result res;
	struct verdict v;

	(void)cl;
	(void)req;
	memset(&areq, 0, sizeof(areq));
	areq.op = ADMIN_GC;
	if (admin_do(d, &areq, &res, &v) != 0)
		return answer_verdict(&v);
	if (res.count > 0)
		say(LOG_INFO, "gc: %zu record(s) removed by uid %u", res.count, (unsigned)c->uid);
	return answer_with("removed", json_integer((json_int_t)res.count), NULL);
}

static char *op_lock(struct daemon *d, struct client *cl, const struct caller *c,
		     const struct proto_request *req)
{
	(void)cl;
	return lock_change(d, c, req, true);
}

static char *op_unlock(struct daemon *d, struct client *cl, const struct caller *c,
		       const struct proto_request *req)
{
	(void)cl;
	return lock_change(d, c, req, false);
}

static char *op_ping(struct daemon *d, struct client *cl, const struct caller *c,
		     const struct proto_request *req)
{
	(void)d;
	(void)cl;
	(void)c;
	(void)req;
	return answer_with("version", json_string(PAM_JWTD_VERSION), NULL);
}

static char *op_reload(struct daemon *d, struct client *cl, const struct caller *c,
		       const struct proto_request *req)
{
	struct verdict v;

	(void)cl;
	(void)req;
	verdict_init(&v);
	say(LOG_NOTICE, "reload asked for by uid %u", (unsigned)c->uid);
	if (reload(d, &v) != 0)
		return answer_verdict(&v);
	return answer_with("kid", json_string(d->kid != NULL ? d->kid : ""), NULL);
}

static char *op_jwks(struct daemon *d, struct client *cl, const struct caller *c,
		     const struct proto_request *req);

/* One row per request, as the protocol names them: its handler, who may call it (root, or
 * any local user for their own sessions and tokens: the handler checks ownership), and
 * what it does. Unknown operations, and those not allowed to the caller, are refused. */
typedef char *(*op_fn)(struct daemon *d, struct client *cl, const struct caller *c,
		       const struct proto_request *req);

static const struct op_row {
	enum proto_op op;
	op_fn run;
	bool root_only;
	const char *what;
} op_rows[] = {
	{ PROTO_OP_PING, op_ping, false, "the daemon's version" },
	{ PROTO_OP_STATUS, op_status, false, "the daemon's state (counters for root)" },
	{ PROTO_OP_OPEN, op_open, true, "tokens for a session the module opened" },
	{ PROTO_OP_REFRESH, op_refresh, false, "rotate a refresh token (its owner)" },
	{ PROTO_OP_TOKEN, op_token, false, "an access token for a session (its owner)" },
	{ PROTO_OP_LOGOUT, op_logout, false, "end a session (its owner)" },
	{ PROTO_OP_REVOKE, op_revoke, true, "revoke a session, a user's sessions, a token id" },
	{ PROTO_OP_LOCK, op_lock, true, "lock a user" },
	{ PROTO_OP_UNLOCK, op_unlock, true, "unlock a user" },
	{ PROTO_OP_SESSIONS, op_sessions, false, "list sessions (a user: their own)" },
	{ PROTO_OP_GC, op_gc, true, "remove expired records" },
	{ PROTO_OP_RELOAD, op_reload, true, "reload the configuration and keys" },
	{ PROTO_OP_JWKS, op_jwks, false, "fetch the issuer's keys now (rate limited)" },
};

static const struct op_row *op_row_find(enum proto_op op)
{
	const struct op_row *found = NULL;
	size_t i;

	for (i = 0; i < sizeof(op_rows) / sizeof(op_rows[0]) && found == NULL; i++)
		if (op_rows[i].op == op)
			found = &op_rows[i];
	return found;
}


/* One request. NULL when the answer is deferred (cl->awaits_jwks). */
static char *handle(struct daemon *d, struct client *cl, const struct caller *c, const char *buf,
		    size_t len)
{
	const struct op_row *row;
	struct proto_request req;
	const char *reason = NULL;
	char *msg = NULL;

	memset(&req, 0, sizeof(req));
	d->requests++;
	if (proto_request_parse(buf, len, &req, &reason) != 0) {
		msg = proto_answer_error(reason);
		goto out;
	}
	row = op_row_find(req.op);
	if (row == NULL) {
		msg = proto_answer_error("unknown operation");
		goto out;
	}
	/* the protocol's own table must agree: either refusing is enough */
	if ((row->root_only && !c->root) || !proto_op_allowed(req.op, c->root)) {
		msg = proto_answer_error("operation not permitted");
		goto out;
	}
	msg = row->run(d, cl, c, &req);
out:
	proto_request_clear(&req);
	if (msg == NULL && cl->awaits_jwks)
		return NULL;
	return msg != NULL ? msg : proto_answer_error("internal error");
}

/* ---- the socket and the loop ---------------------------------------------------------------- */

static void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
	cl->awaits_jwks = false;
}

/* Send one answer; a caller that does not read its answers is dropped. */
static void client_answer(struct client *cl, const char *answer)
{
	ssize_t sent = answer != NULL ? send(cl->fd, answer, strlen(answer), MSG_NOSIGNAL) : -1;

	if (sent < 0 || (size_t)sent != strlen(answer))
		client_close(cl);
}

static void client_accept(struct daemon *d)
{
	struct client *cl = NULL;
	size_t i, in_use = 0, of_uid = 0;
	uid_t uid = (uid_t)-1, acct;
	gid_t gid = (gid_t)-1;
	pid_t pid = 0;
	int fd;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (proto_peer_cred(fd, &uid, &gid, &pid) != 0) {
		close(fd); /* no credentials: nobody is served blind */
		return;
	}
	/* unreadable ids count as an unprivileged uid of their own: served, but not from
	 * root's reserve */
	acct = proto_peer_account_uid(pid, uid);
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (d->clients[i].fd < 0) {
			if (cl == NULL)
				cl = &d->clients[i];
			continue;
		}
		in_use++;
		of_uid += d->clients[i].acct_uid == acct;
	}
	if (cl == NULL || (acct != 0 && (of_uid >= MAX_CLIENTS_PER_UID ||
					 in_use >= MAX_CLIENTS - ROOT_RESERVED_CLIENTS))) {
		close(fd);
		return;
	}
	cl->fd = fd;
	cl->uid = uid;
	cl->acct_uid = acct;
	cl->gid = gid;
	cl->last_ms = monotonic_ms();
}

/* Connections that went quiet are closed. */
static void clients_expire(struct daemon *d, int64_t now_ms)
{
	size_t i;

	for (i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0 && now_ms - d->clients[i].last_ms > CLIENT_IDLE_MS)
			client_close(&d->clients[i]);
}

static void client_serve(struct daemon *d, struct client *cl)
{
	char buf[PROTO_REQUEST_MAX + 1];
	struct caller c = { cl->uid, cl->gid, cl->uid == 0 };
	char *answer = NULL;
	size_t len = 0;

	cl->last_ms = monotonic_ms();
	switch (proto_recv_request(cl->fd, buf, &len)) {
	case PROTO_RECV_MESSAGE:
		answer = handle(d, cl, &c, buf, len);
		if (answer == NULL && cl->awaits_jwks)
			goto out; /* answered when the fetch ends */
		break;
	case PROTO_RECV_TOO_LARGE:
		answer = proto_answer_error("request too large");
		break;
	case PROTO_RECV_ERROR:
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			goto out;
		/* fall through */
	case PROTO_RECV_CLOSED:
	default:
		client_close(cl);
		goto out;
	}
	client_answer(cl, answer);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	proto_message_free(answer);
}

/* Listen on socket_path: its directory must be root's and not writable by others; a stale
 * socket left by a crash is replaced, a live one (another daemon) is not. */
static int listen_on(const char *path)
{
	struct sockaddr_un addr;
	struct stat sb;
	char *dir = NULL, *slash;
	int fd = -1, probe = -1, rc = -1;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path) || path[0] != '/') {
		say(LOG_ERR, "socket_path %s is not a usable socket path", path);
		goto out;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	dir = strdup(path);
	if (dir == NULL)
		goto out;
	slash = strrchr(dir, '/');
	slash[slash == dir ? 1 : 0] = '\0';
	if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != 0 ||
	    (sb.st_mode & 022) != 0) {
		say(LOG_ERR, "the directory of socket_path (%s) must be root's and writable by "
			     "root only", dir);
		goto out;
	}
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			say(LOG_ERR, "%s exists and is not a socket", path);
			goto out;
		}
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			say(LOG_ERR, "another pam-jwtd is listening on %s", path);
			goto out;
		}
		if (unlink(path) != 0) {
			say(LOG_ERR, "cannot remove the stale socket %s: %s", path, strerror(errno));
			goto out;
		}
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(path, 0666) != 0 || listen(fd, 128) != 0) {
		say(LOG_ERR, "cannot listen on %s: %s", path, strerror(errno));
		goto out;
	}
	rc = fd;
	fd = -1;
out:
	if (probe >= 0)
		close(probe);
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

static int signals_open(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void signals_read(struct daemon *d)
{
	struct signalfd_siginfo si;
	struct verdict v;

	while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		verdict_init(&v);
		if (si.ssi_signo == SIGHUP)
			(void)reload(d, &v); /* logged there */
		else
			d->stop = true;
	}
}

/* ---- keys fetched from the issuer ---------------------------------------------------------- */

#define JWKS_BACKOFF_FIRST_S 5
#define JWKS_BACKOFF_MAX_SHIFT 7 /* 5 s .. 640 s, and never beyond jwks_refresh */
/* A fetch is discovery plus the JWKS, each within the fetcher's caps; a child that has not
 * reported well after both is stopped. */
#define JWKS_FETCH_HARD_MS ((2 * JWKSFETCH_TOTAL_TIMEOUT + 10) * 1000)
/* Early refetches (a token named a kid we do not have) start at most this often: anyone
 * can show us a token with a new kid, and the issuer is not to be pestered for it. */
#define JWKS_EARLY_MIN_MS 30000

/* What the fetch child reports through its pipe, in one write (smaller than PIPE_BUF). */
struct jwks_result {
	int32_t rc;
	int64_t next;   /* seconds to the next fetch */
	char text[200]; /* the failure, described; printable ASCII */
};

/* The child: fetch, report, exit. The loop is never blocked by the network: the child
 * runs the fetcher with its time caps while the daemon goes on serving. */
__attribute__((noreturn))
static void jwks_child(struct daemon *d, int fd)
{
	struct jwks_result r;
	struct verdict v;
	sigset_t none;
	size_t i;

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL); /* SIGTERM and SIGKILL stop it */
	for (i = 0; i < MAX_CLIENTS; i++)
		if (d->clients[i].fd >= 0)
			close(d->clients[i].fd); /* a connection ends when the daemon closes it */
	if (d->listen_fd >= 0)
		close(d->listen_fd);
	memset(&r, 0, sizeof(r));
	verdict_init(&v);
	r.next = d->cfg.jwks_refresh;
	r.rc = jwksfetch_run(&d->cfg, &r.next, &v) == 0 ? 0 : -1;
	if (r.rc != 0)
		verdict_describe(&v, r.text, sizeof(r.text));
	(void)!write(fd, &r, sizeof(r));
	_exit(0);
}

/* A fetch ended: log it, plan the next one (a failure leaves the cache, the keys in use,
 * as it was and is retried sooner, with a bounded backoff) and answer who waited for it. */
static void jwks_done(struct daemon *d, int64_t now_ms, const struct jwks_result *r)
{
	int64_t next = r->next;
	unsigned int shift;
	char *answer, why[PROTO_STRING_MAX + 1];
	size_t i;

	if (r->rc == 0) {
		if (next < 1 || next > d->cfg.jwks_refresh)
			next = d->cfg.jwks_refresh;
		if (d->jwks_failures > 0)
			say(LOG_NOTICE, "JWKS fetch works again after %u failure(s)", d->jwks_failures);
		else
			say(LOG_INFO, "JWKS fetched into %s, next in %lld s", d->cfg.jwks_cache,
			    (long long)next);
		d->jwks_failures = 0;
		answer = answer_with("fetched", json_true(), NULL);
	} else {
		say(LOG_ERR, "JWKS fetch failed, keeping the keys in use: %s", r->text);
		shift = d->jwks_failures < JWKS_BACKOFF_MAX_SHIFT ? d->jwks_failures :
								    JWKS_BACKOFF_MAX_SHIFT;
		next = (int64_t)JWKS_BACKOFF_FIRST_S << shift;
		if (next > d->cfg.jwks_refresh)
			next = d->cfg.jwks_refresh;
		if (d->jwks_failures < UINT_MAX)
			d->jwks_failures++;
		snprintf(why, sizeof(why), "JWKS fetch failed: %s", r->text);
		answer = proto_answer_error(why);
	}
	d->next_jwks_ms = d->jwks_again ? now_ms : now_ms + next * 1000;
	d->jwks_again = false;
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (d->clients[i].fd < 0 || !d->clients[i].awaits_jwks)
			continue;
		d->clients[i].awaits_jwks = false;
		d->clients[i].last_ms = now_ms;
		client_answer(&d->clients[i], answer);
	}
	proto_message_free(answer);
}

/* Start a fetch in a child unless one runs. False when none could be started (then it has
 * been accounted as a failed fetch). */
static bool jwks_start(struct daemon *d, int64_t now_ms)
{
	struct jwks_result r;
	int pfd[2];
	pid_t pid;

	if (d->jwks_pid > 0)
		return true;
	memset(&r, 0, sizeof(r));
	r.rc = -1;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(r.text, sizeof(r.text), "cannot make a pipe: %s", strerror(errno));
		jwks_done(d, now_ms, &r);
		return false;
	}
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		jwks_child(d, pfd[1]);
	}
	close(pfd[1]);
	if (pid < 0) {
		snprintf(r.text, sizeof(r.text), "cannot fork: %s", strerror(errno));
		close(pfd[0]);
		jwks_done(d, now_ms, &r);
		return false;
	}
	d->jwks_pid = pid;
	d->jwks_fd = pfd[0];
	d->jwks_deadline_ms = now_ms + JWKS_FETCH_HARD_MS;
	return true;
}

/* Collect the child: its report, or (stopped at the deadline, or dead) a failure. */
static void jwks_collect(struct daemon *d, int64_t now_ms, bool overdue)
{
	struct jwks_result r;
	ssize_t n = -1;
	int status;

	memset(&r, 0, sizeof(r));
	if (overdue)
		(void)kill(d->jwks_pid, SIGKILL);
	else
		n = read(d->jwks_fd, &r, sizeof(r));
	if (n != (ssize_t)sizeof(r)) {
		memset(&r, 0, sizeof(r));
		r.rc = -1;
		if (overdue)
			snprintf(r.text, sizeof(r.text), "the fetch did not end in %d s and was stopped",
				 (int)(JWKS_FETCH_HARD_MS / 1000));
		else
			snprintf(r.text, sizeof(r.text), "the fetch process ended without a result");
	}
	r.text[sizeof(r.text) - 1] = '\0';
	while (waitpid(d->jwks_pid, &status, 0) < 0 && errno == EINTR)
		;
	close(d->jwks_fd);
	d->jwks_fd = -1;
	d->jwks_pid = 0;
	jwks_done(d, now_ms, &r);
}

/* Somebody (the module, for a token whose kid it does not know) asks for the issuer's keys
 * now. It waits for a fetch that runs; a new one starts at most every JWKS_EARLY_MIN_MS. */
static char *op_jwks(struct daemon *d, struct client *cl, const struct caller *c,
		     const struct proto_request *req)
{
	int64_t now_ms = monotonic_ms();

	(void)c;
	(void)req;
	if (d->cfg.jwks_cache == NULL)
		return proto_answer_error("keys are not fetched here (no jwks_cache)");
	if (d->jwks_pid == 0) {
		if (d->jwks_early_ms != 0 && now_ms - d->jwks_early_ms < JWKS_EARLY_MIN_MS)
			return proto_answer_error("JWKS refetch rate limited");
		d->jwks_early_ms = now_ms;
		say(LOG_INFO, "JWKS refetch asked for (uid %u)", (unsigned)cl->uid);
		if (!jwks_start(d, now_ms))
			return proto_answer_error("JWKS fetch could not start");
	}
	cl->awaits_jwks = true;
	return NULL;
}

static int run(struct daemon *d)
{
	struct pollfd pfd[4 + MAX_CLIENTS];
	size_t map[MAX_CLIENTS], n, i, nc;
	int64_t now_ms, next_tick = monotonic_ms() + TICK_MS, wait_ms;

	d->next_sweep_ms = monotonic_ms();
	d->next_jwks_ms = d->next_sweep_ms;
	while (!d->stop) {
		now_ms = monotonic_ms();
		if (now_ms >= d->next_sweep_ms) {
			sweep(d);
			watch_reconcile(d);
			d->next_sweep_ms = now_ms + d->cfg.sweep_interval * 1000;
		}
		watch_start(d, now_ms);
		if (d->watch != NULL)
			watch_read(d); /* what arrived while this loop was busy */
		mirror_sync(d, now_ms);
		if (d->jwks_pid > 0 && now_ms >= d->jwks_deadline_ms)
			jwks_collect(d, now_ms, true);
		if (d->cfg.jwks_cache != NULL && d->jwks_pid == 0 && now_ms >= d->next_jwks_ms)
			(void)jwks_start(d, now_ms);
		if (now_ms >= next_tick) {
			clients_expire(d, now_ms);
			/* with renewals left over, the next batch comes after one round of clients */
			next_tick = keyring_tick(d) ? monotonic_ms() + TICK_BACKLOG_MS :
						     now_ms + TICK_MS;
		}
		endings_run(d);
		wait_ms = next_tick - now_ms;
		if (d->n_ending > 0 && wait_ms > 100)
			wait_ms = 100;
		if (d->jwks_pid > 0 && d->jwks_deadline_ms - now_ms < wait_ms)
			wait_ms = d->jwks_deadline_ms - now_ms;
		else if (d->jwks_pid == 0 && d->cfg.jwks_cache != NULL &&
			 d->next_jwks_ms - now_ms < wait_ms)
			wait_ms = d->next_jwks_ms - now_ms;
		if (wait_ms < 0)
			wait_ms = 0;
		pfd[0].fd = d->signal_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = d->listen_fd;
		pfd[1].events = POLLIN;
		pfd[2].fd = d->jwks_fd; /* -1 when no fetch runs: poll skips it */
		pfd[2].events = POLLIN;
		pfd[3].fd = d->watch != NULL ? store_watch_fd(d->watch) : -1;
		pfd[3].events = POLLIN;
		if (d->watch == NULL && d->watch_retry_ms > now_ms && d->watch_retry_ms - now_ms < wait_ms)
			wait_ms = d->watch_retry_ms - now_ms;
		if (d->next_mirror_ms > now_ms && d->next_mirror_ms - now_ms < wait_ms)
			wait_ms = d->next_mirror_ms - now_ms;
		n = 4;
		nc = 0;
		for (i = 0; i < MAX_CLIENTS; i++) {
			if (d->clients[i].fd < 0 || d->clients[i].awaits_jwks)
				continue;
			pfd[n].fd = d->clients[i].fd;
			pfd[n].events = POLLIN;
			map[nc++] = i;
			n++;
		}
		if (poll(pfd, n, (int)wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			say(LOG_ERR, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[0].revents & POLLIN)
			signals_read(d);
		if (d->watch != NULL && (pfd[3].revents & (POLLIN | POLLHUP | POLLERR)))
			watch_read(d);
		if (d->jwks_fd >= 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
			jwks_collect(d, monotonic_ms(), false);
		for (i = 0; i < nc; i++) {
			if (pfd[4 + i].revents & (POLLIN | POLLHUP | POLLERR))
				client_serve(d, &d->clients[map[i]]);
		}
		if (pfd[1].revents & POLLIN)
			client_accept(d);
	}
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: pam-jwtd [-c CONFIG] [--socket PATH] [--stderr]\n"
	      "       pam-jwtd --version\n"
	      "  Runs in the foreground; SIGHUP reloads the configuration and the signing key,\n"
	      "  SIGTERM stops it. See pam-jwtd(8).\n", out);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "stderr", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct daemon d;
	struct loaded l;
	struct track_scan scan;
	struct verdict v;
	size_t i, unreadable = 0;
	int c, rc = 1;

	memset(&d, 0, sizeof(d));
	d.listen_fd = -1;
	d.signal_fd = -1;
	d.jwks_fd = -1;
	for (i = 0; i < MAX_CLIENTS; i++)
		d.clients[i].fd = -1;
	d.config_path = CONFIG_DEFAULT_PATH;
	g_daemon = &d;
	while ((c = getopt_long(argc, argv, "c:eh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_path = optarg; break;
		case 'S': d.socket_override = optarg; break;
		case 'e': d.use_stderr = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("pam-jwtd %s\n", PAM_JWT_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!d.use_stderr)
		openlog("pam-jwtd", LOG_PID, LOG_AUTHPRIV);
	proto_json_wipe_on_free();
	umask(077);
	verdict_init(&v);
	if (geteuid() != 0) {
		say(LOG_ERR, "pam-jwtd must run as root");
		goto out;
	}
	if (load(&d, &l, &v) != 0) {
		say_verdict(LOG_ERR, "cannot start", &v);
		goto out;
	}
	if (jwksfetch_global_init() != 0) {
		say(LOG_ERR, "cannot start: libcurl initialisation failed");
		goto out;
	}
	adopt(&d, &l);
	report_verification_keys(&d.cfg);
	d.signal_fd = signals_open();
	d.listen_fd = d.signal_fd >= 0 ? listen_on(d.cfg.socket_path) : -1;
	if (d.listen_fd < 0)
		goto out;
	d.started = clock_now();
	restore_revocations(&d);
	/* sessions that had tokens before a restart are kept fresh again */
	memset(&scan, 0, sizeof(scan));
	scan.d = &d;
	if (store_session_scan(d.st, NULL, track_scanned, &scan, &unreadable, &v) != 0)
		say_verdict(LOG_ERR, "cannot scan the store", &v);
	say(LOG_INFO, "listening on %s (store %s, kid=%s, %zu session(s) kept fresh)",
	    d.cfg.socket_path, config_store_location(&d.cfg), d.kid != NULL ? d.kid : "-", d.n_tracked);
	rc = run(&d) == 0 ? 0 : 1;
	say(LOG_INFO, "stopping");
	(void)unlink(d.cfg.socket_path);
out:
	if (d.jwks_pid > 0) {
		(void)kill(d.jwks_pid, SIGKILL);
		(void)waitpid(d.jwks_pid, NULL, 0);
		close(d.jwks_fd);
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		client_close(&d.clients[i]);
	for (i = 0; i < d.n_ending; i++)
		close(d.ending[i].pidfd);
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	if (d.signal_fd >= 0)
		close(d.signal_fd);
	free(d.tracked);
	free(d.tracked_index);
	free(d.ending);
	jwksfetch_global_cleanup();
	config_free(&d.cfg);
	jwa_key_clear(&d.key);
	free(d.kid);
	store_close(d.st);
	store_watch_close(d.watch);
	store_close(d.mirror);
	free(d.local);
	return rc;
}
