#include "admin.h"

#include <string.h>

#include "keyring.h"
#include "session.h"
#include "user.h"

/* Every ended session: its keyring entries go, then the caller ends its login. */
struct admin_end {
	store_session_fn ender;
	void *ctx;
	size_t keyring_failures;
};

static int admin_ended(const struct store_session *sess, void *arg)
{
	struct admin_end *e = arg;
	const char *reason = NULL;
	bool removed = false;

	if (keyring_remove_session(sess->uid, sess->digest, &removed, &reason) != 0)
		e->keyring_failures++;
	return e->ender != NULL ? e->ender(sess, e->ctx) : 0;
}

/* Keep a revocation, lock or unlock in persist_dir as well. */
static void admin_persist(const struct config *cfg, enum session_persist_change what,
			  const char *name, int64_t t, struct admin_result *res)
{
	int rc;

	verdict_init(&res->persist_v);
	rc = session_persist_change(cfg, what, name, t, &res->persist_v);
	res->persisted = rc == 0 ? 1 : rc == 1 ? 0 : -1;
	res->persist_missing = rc == 1 && cfg->persist_dir != NULL; /* set, but not there */
}

static int admin_account(const char *user, struct admin_result *res, struct verdict *v)
{
	return user_canonical_name(user, res->account, sizeof(res->account), v) < 0 ? -1 : 0;
}

int admin_run(struct store *st, const struct config *cfg, const struct admin_request *req,
	      int64_t now, store_session_fn ender, void *ctx, struct admin_result *res,
	      struct verdict *v)
{
	struct admin_end end = { ender, ctx, 0 };
	int rc = -1;

	memset(res, 0, sizeof(res[0]));
	verdict_init(&res->persist_v);
	verdict_init(v);
	if (st == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no session store");
		goto out;
	}
	switch (req->op) {
	case ADMIN_REVOKE_SESSION:
		if (req->session == NULL ||
		    store_session_resolve_prefix(st, req->session, res->session, v) != 0 ||
		    store_session_revoke(st, res->session, admin_ended, &end, &res->count, v) != 0)
			goto out;
		break;
	case ADMIN_REVOKE_USER:
		if (req->user == NULL || admin_account(req->user, res, v) != 0 ||
		    store_revoke_user(st, res->account, admin_ended, &end, &res->count, v) != 0)
			goto out;
		break;
	case ADMIN_REVOKE_JTI:
		res->exp = req->exp != 0 ? req->exp : now + ADMIN_JTI_DEFAULT_TTL;
		if (res->exp <= now) {
			verdict_set(v, VERDICT_REJECT, "exp is in the past");
			goto out;
		}
		if (req->jti == NULL || req->jti[0] == '\0') {
			verdict_set(v, VERDICT_REJECT, "no token ID");
			goto out;
		}
		if (store_jti_revoke(st, req->jti, res->exp, v) != 0 ||
		    store_revoke_jti_sessions(st, req->jti, admin_ended, &end, &res->count, v) != 0)
			goto out;
		admin_persist(cfg, SESSION_PERSIST_JTI, req->jti, res->exp, res);
		break;
	case ADMIN_LOCK:
	case ADMIN_UNLOCK:
		if (req->op == ADMIN_LOCK && req->until != 0 && req->until <= now) {
			verdict_set(v, VERDICT_REJECT, "until is in the past");
			goto out;
		}
		if (req->user == NULL || admin_account(req->user, res, v) != 0 ||
		    (req->op == ADMIN_LOCK ? store_user_lock(st, res->account, req->until, v) :
					     store_user_unlock(st, res->account, v)) != 0)
			goto out;
		/* locked first, so that no new login of the user comes in between */
		if (req->op == ADMIN_LOCK && req->end_logins &&
		    store_revoke_user(st, res->account, admin_ended, &end, &res->count, v) != 0)
			goto out;
		admin_persist(cfg, req->op == ADMIN_LOCK ? SESSION_PERSIST_LOCK :
				   SESSION_PERSIST_UNLOCK, res->account, req->until, res);
		break;
	case ADMIN_GC:
		if (store_gc(st, now, admin_ended, &end, &res->count, v) != 0)
			goto out;
		break;
	default:
		verdict_set(v, VERDICT_BAD_CONFIG, "unknown admin operation");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	res->keyring_failures = end.keyring_failures;
	if (rc != 0 && v->code == VERDICT_OK)
		verdict_set(v, VERDICT_UNAVAILABLE, "session store failed");
	return rc;
}
