/*
 * The admin's changes to the store, one implementation for pam-jwtd and pam-jwtctl:
 * revoke a session (and every session opened with it), every session of a user, or a
 * token ID (and the sessions it opened); lock a user (and, with end_logins, revoke their
 * sessions); unlock; collect garbage. A change is made in the store, a revocation or lock
 * is also kept in persist_dir, and every session it ends has its keyring entries cleared
 * and is handed to the caller's ender, which ends its login where it runs (pam-jwtd with
 * its own bookkeeping, pam-jwtctl directly). Decides and changes only; never logs, never
 * prints.
 */
#ifndef PAM_JWT_ADMIN_H
#define PAM_JWT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"
#include "verdict.h"

/* A token ID revoked without an end time stays refused this long. */
#define ADMIN_JTI_DEFAULT_TTL (30 * 24 * 3600)

enum admin_op {
	ADMIN_REVOKE_SESSION,
	ADMIN_REVOKE_USER,
	ADMIN_REVOKE_JTI,
	ADMIN_LOCK,
	ADMIN_UNLOCK,
	ADMIN_GC,
};

struct admin_request {
	enum admin_op op;
	const char *session; /* REVOKE_SESSION: a session digest, or a prefix of one (8+ hex) */
	const char *user;    /* REVOKE_USER, LOCK, UNLOCK: the account's own name is used */
	const char *jti;     /* REVOKE_JTI */
	int64_t exp;         /* REVOKE_JTI: refused until then; 0: ADMIN_JTI_DEFAULT_TTL */
	int64_t until;       /* LOCK: until then; 0: until unlocked */
	bool end_logins;     /* LOCK: revoke the user's sessions too */
};

struct admin_result {
	char session[STORE_DIGEST_HEX_LEN + 1]; /* REVOKE_SESSION: the session revoked */
	char account[STORE_FIELD_MAX];          /* the account the change was made for */
	size_t count;      /* sessions revoked; GC: records removed */
	int64_t exp;       /* REVOKE_JTI: refused until then */
	/* REVOKE_JTI, LOCK, UNLOCK: 1 kept in persist_dir, 0 there is none (not set, or
	 * missing: persist_missing), -1 writing it failed (persist_v says why). The change
	 * is in force in the store either way. */
	int persisted;
	bool persist_missing;
	struct verdict persist_v;
	size_t keyring_failures; /* ended sessions whose keyring entries could not go */
};

/* Make the change at `now`. 0 with *res filled in, or -1 with v set (nothing changed, or,
 * for a revocation cut off half-way, what was revoked is in res->count and was handed
 * to ender). ender (may be NULL) is called once per ended session, after the store's
 * transaction. */
int admin_run(struct store *st, const struct config *cfg, const struct admin_request *req,
	      int64_t now, store_session_fn ender, void *ctx, struct admin_result *res,
	      struct verdict *v);

#endif
