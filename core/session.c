#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "claims.h"
#include "leader.h"

static void store_options_of(const struct config *cfg, struct store_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->allow_non_tmpfs = cfg->allow_non_tmpfs;
	opts->max_sessions_per_user = cfg->max_sessions_per_user;
	opts->max_sessions_total = cfg->max_sessions_total;
	opts->max_refreshes_per_minute = cfg->max_refreshes_per_minute;
	opts->redis_prefix = cfg->redis_prefix;
	opts->redis_password_file = cfg->redis_password_file;
	opts->redis_ca_file = cfg->redis_ca_file;
	opts->redis_cert_file = cfg->redis_cert_file;
	opts->redis_key_file = cfg->redis_key_file;
	opts->redis_timeout_ms = (int)cfg->redis_timeout_ms;
	opts->bind_host = cfg->bind_host;
	opts->redis_sentinel = cfg->redis_sentinel;
	opts->redis_master = cfg->redis_master;
	opts->redis_replicas = (int)cfg->redis_replicas;
}

int session_watch_open(const struct config *cfg, struct store_watch **out, struct verdict *v)
{
	struct store_options opts;

	store_options_of(cfg, &opts);
	return store_watch_open(config_store_location(cfg), &opts, out, v);
}

int session_store_open(const struct config *cfg, bool must_exist, struct store **out,
		       struct verdict *v)
{
	struct store_options opts;
	struct stat sb;
	int rc = -1;

	const char *location = config_store_location(cfg);

	*out = NULL;
	if (location == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "store_dir is not set");
		goto out;
	}
	if (!must_exist && cfg->store == NULL && lstat(location, &sb) != 0 && errno == ENOENT) {
		rc = 0;
		goto out;
	}
	store_options_of(cfg, &opts);
	if (store_open(location, &opts, out, v) != 0) {
		*out = NULL;
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_UNAVAILABLE, "session store is unusable");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int session_mirror_open(const struct config *cfg, struct store **out, struct verdict *v)
{
	struct store_options opts;
	int rc = -1;

	*out = NULL;
	if (cfg->store == NULL || cfg->store_dir == NULL) {
		verdict_set(v, VERDICT_BAD_CONFIG, "a mirror needs store = a Redis URL and store_dir");
		goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.allow_non_tmpfs = cfg->allow_non_tmpfs;
	opts.mirror = true;
	if (store_open(cfg->store_dir, &opts, out, v) != 0) {
		*out = NULL;
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_UNAVAILABLE, "the mirror in store_dir is unusable");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int64_t session_max_staleness(const struct config *cfg)
{
	return cfg->max_staleness >= 0 ? cfg->max_staleness : CONFIG_MAX_STALENESS_DEFAULT;
}

int session_store_open_jwt(const struct config *cfg, bool must_exist, int64_t now,
			   struct store **out, struct verdict *store_v, struct verdict *v)
{
	struct store *mirror = NULL;
	int64_t synced = 0, age;
	int rc = -1;

	*out = NULL;
	verdict_ok(store_v); /* the store did not fail (verdict_init would say "refused") */
	if (session_store_open(cfg, must_exist, out, v) == 0) {
		rc = 0;
		goto out;
	}
	if (v->code != VERDICT_UNAVAILABLE || cfg->store == NULL ||
	    cfg->store_unavailable != CONFIG_STORE_UNAVAILABLE_LAST_KNOWN)
		goto out;
	*store_v = *v;
	if (session_mirror_open(cfg, &mirror, v) != 0 ||
	    store_mirror_synced(mirror, &synced, v) != 0)
		goto out;
	age = now > synced ? now - synced : 0;
	if (age < 2 * SESSION_MIRROR_SYNC_SECONDS) {
		verdict_setf_seconds(v, VERDICT_UNAVAILABLE,
				     "the session store is unreachable from this login, but "
				     "pam-jwtd reached it", "(%llds ago)", (long long)age);
		goto out;
	}
	if (age > session_max_staleness(cfg)) {
		verdict_setf_seconds(v, VERDICT_UNAVAILABLE,
				     "the session store is unreachable and pam-jwtd's mirror is "
				     "older than max_staleness", "(%llds old)", (long long)age);
		goto out;
	}
	verdict_setf_seconds(v, VERDICT_OK, "the session store is unreachable: using "
			     "pam-jwtd's mirror of revocations and locks", "(%llds old)",
			     (long long)age);
	*out = mirror;
	mirror = NULL;
	rc = 0;
out:
	store_close(mirror);
	return rc;
}

int session_persist_open(const struct config *cfg, struct store **out, struct verdict *v)
{
	struct store_options opts;
	struct stat sb;
	int rc = -1;

	*out = NULL;
	if (cfg->persist_dir == NULL ||
	    (lstat(cfg->persist_dir, &sb) != 0 && errno == ENOENT)) {
		rc = 0;
		goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.allow_non_tmpfs = true;
	if (store_open(cfg->persist_dir, &opts, out, v) != 0) {
		*out = NULL;
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_UNAVAILABLE, "revocation directory is unusable");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int session_persist_change(const struct config *cfg, enum session_persist_change what,
			   const char *name, int64_t t, struct verdict *v)
{
	struct store *pst = NULL;
	int rc = -1;

	if (session_persist_open(cfg, &pst, v) != 0)
		goto out;
	if (pst == NULL) {
		rc = 1;
		goto out;
	}
	if ((what == SESSION_PERSIST_JTI ? store_jti_revoke(pst, name, t, v) :
	     what == SESSION_PERSIST_LOCK ? store_user_lock(pst, name, t, v) :
					    store_user_unlock(pst, name, v)) != 0)
		goto out;
	rc = 0;
out:
	store_close(pst);
	return rc;
}

bool session_digest_looks_like(const char *s)
{
	return store_digest_looks_like(s);
}

/* A string claim, or NULL. */
static const char *claim_string(const struct jwt_verified *verified, const char *name)
{
	const json_t *value = json_object_get(verified->claims, name);

	return json_is_string(value) ? json_string_value(value) : NULL;
}

int session_check_digest(struct store *st, const struct config *cfg, const char *digest,
			 const char *user, const char *service, int64_t now, struct verdict *v)
{
	struct store_session sess;
	int rc = -1;

	memset(&sess, 0, sizeof(sess));
	if (st == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "session store does not exist");
		goto out;
	}
	if (store_is_mirror(st)) {
		verdict_set(v, VERDICT_UNAVAILABLE,
			    "the session store is unreachable: sessions cannot be checked");
		goto out;
	}
	if (!session_digest_looks_like(digest)) {
		verdict_set(v, VERDICT_REJECT, "not a session digest");
		goto out;
	}
	if (store_session_get_digest(st, digest, &sess, v) != 0) {
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_REJECT, "unknown session");
		goto out;
	}
	if (store_session_check(st, &sess, user, service, cfg->bind_service, now, v) != 0)
		goto out;
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int session_check_jwt(struct store *st, const struct config *cfg,
		      const struct jwt_verified *verified, const char *user, const char *service,
		      int64_t now, bool consume, struct verdict *v)
{
	const char *jti, *sid;
	const json_t *exp_json;
	struct verdict name_v;
	char *name = NULL;
	int64_t exp = 0;
	int rc = -1;

	if (verified == NULL || verified->claims == NULL) {
		verdict_set(v, VERDICT_REJECT, "no verified token");
		goto out;
	}
	jti = claim_string(verified, "jti");
	/* no user given (pam-jwtctl verify without -u): the one the token stands for, if any */
	if (user == NULL) {
		verdict_init(&name_v);
		if (claims_user_name(cfg, verified->claims, &name, &name_v) == 0) {
			user = name;
		} else if (name_v.code != VERDICT_REJECT) {
			verdict_set(v, name_v.code, name_v.reason);
			memcpy(v->detail, name_v.detail, sizeof(v->detail));
			goto out;
		}
	}
	if (st != NULL) {
		if (jti != NULL && store_jti_check(st, jti, now, v) != 0)
			goto fail;
		if (user != NULL && store_user_check(st, user, now, v) != 0)
			goto fail;
	}
	sid = claim_string(verified, "sid");
	if (cfg->require_session) {
		if (sid == NULL) {
			verdict_set(v, VERDICT_REJECT, "token names no session (sid)");
			goto out;
		}
		if (session_check_digest(st, cfg, sid, user, service, now, v) != 0)
			goto out;
	} else if (sid != NULL && session_digest_looks_like(sid)) {
		/* a token minted for one of our sessions stands only while that session does
		 * (a provider's own "sid" never has this shape) */
		if (session_check_digest(st, cfg, sid, user, NULL, now, v) != 0)
			goto out;
	}
	if (cfg->single_use) {
		if (jti == NULL) {
			verdict_set(v, VERDICT_REJECT, "single_use needs a token with a jti");
			goto out;
		}
		if (consume) {
			exp_json = json_object_get(verified->claims, "exp");
			if (exp_json == NULL || claims_numeric_date(exp_json, &exp) != 0) {
				verdict_set(v, VERDICT_REJECT, "exp is missing or not a NumericDate");
				goto out;
			}
			if (st == NULL) {
				verdict_set(v, VERDICT_UNAVAILABLE, "session store does not exist");
				goto out;
			}
			/* the token is accepted until exp + leeway: so long must its use count */
			if (__builtin_add_overflow(exp, cfg->leeway, &exp))
				exp = INT64_MAX;
			if (store_jti_use_once(st, service != NULL ? service : "", jti, exp, now,
					       v) != 0)
				goto fail;
		}
	}
	verdict_ok(v);
	rc = 0;
	goto out;
fail:
	if (v->code == VERDICT_OK)
		verdict_set(v, VERDICT_UNAVAILABLE, "session store failed");
out:
	free(name);
	return rc;
}

int session_check_id(struct store *st, const struct config *cfg, const char *session_id,
		     const char *user, const char *service, int64_t now,
		     char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	struct store_session sess;
	int rc = -1;

	memset(&sess, 0, sizeof(sess));
	if (digest_out != NULL)
		digest_out[0] = '\0';
	if (st == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "session store does not exist");
		goto out;
	}
	if (session_id == NULL || !store_session_id_looks_like(session_id, strlen(session_id))) {
		verdict_set(v, VERDICT_REJECT, "not a session ID");
		goto out;
	}
	if (user == NULL) {
		verdict_set(v, VERDICT_REJECT, "no user");
		goto out;
	}
	if (store_user_check(st, user, now, v) != 0)
		goto fail;
	if (store_session_use(st, session_id, user, service, cfg->bind_service, now, &sess,
			      v) != 0)
		goto fail;
	if (digest_out != NULL)
		store_digest_hex(session_id, strlen(session_id), digest_out);
	verdict_ok(v);
	rc = 0;
	goto out;
fail:
	if (v->code == VERDICT_OK)
		verdict_set(v, VERDICT_UNAVAILABLE, "session store failed");
out:
	return rc;
}

/* Copy a login field into a record field; too long is an error when `exact`, else cut. */
static int field_copy(char dst[STORE_FIELD_MAX], const char *src, bool exact)
{
	size_t len = src != NULL ? strlen(src) : 0;
	int rc = -1;

	if (len >= STORE_FIELD_MAX && exact)
		goto out;
	if (len >= STORE_FIELD_MAX)
		len = STORE_FIELD_MAX - 1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
	rc = 0;
out:
	return rc;
}

/* A login field that PAM takes from the client (PAM_TTY, PAM_RHOST may hold any bytes): every byte but printable ASCII without space (0x21..0x7e) becomes '?', so the
 * record can always hold it and listings, JSON and logs show it safely. */
static void field_sanitise(char dst[STORE_FIELD_MAX])
{
	size_t i;

	for (i = 0; i < STORE_FIELD_MAX && dst[i] != '\0'; i++) {
		if ((unsigned char)dst[i] < 0x21 || (unsigned char)dst[i] > 0x7e)
			dst[i] = '?';
	}
}

/* A child session: its parent is live and stands for the same user; the child ends no
 * later than the parent and carries the parent's origin. */
static int session_inherit(struct store *st, const struct session_login *login, int64_t now,
			   struct store_session *child, struct verdict *v)
{
	struct store_session parent;
	int rc = -1;

	if (!session_digest_looks_like(login->parent)) {
		verdict_set(v, VERDICT_REJECT, "origin of the login is malformed");
		goto out;
	}
	/* the parent stands for this user, or (sudo -u) for the user who invoked the login */
	if (store_session_get_digest(st, login->parent, &parent, v) != 0 ||
	    store_session_check(st, &parent,
				strcmp(parent.user, login->user) != 0 && login->ruser != NULL ?
					login->ruser : login->user,
				NULL, false, now, v) != 0) {
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_REJECT, "the session that opened this one has ended");
		goto out;
	}
	memcpy(child->parent, login->parent, STORE_DIGEST_HEX_LEN + 1);
	/* a login by a token of the session keeps the token's own jti (the parent's is
	 * checked along the lineage anyway) */
	if (child->origin_jti[0] == '\0')
		memcpy(child->origin_jti, parent.origin_jti, STORE_DIGEST_HEX_LEN + 1);
	if (parent.expires < child->expires)
		child->expires = parent.expires;
	/* a child that would be refused at once (its chain too long) is not made */
	if (store_session_check(st, child, login->user, NULL, false, now, v) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

int session_record_new(struct store *st, const struct config *cfg,
		       const struct session_login *login, int64_t now,
		       char id_out[STORE_SESSION_ID_LEN + 1],
		       char digest_out[STORE_DIGEST_HEX_LEN + 1], struct verdict *v)
{
	struct store_session sess;
	int rc = -1;

	memset(&sess, 0, sizeof(sess));
	id_out[0] = '\0';
	digest_out[0] = '\0';
	if (st == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "session store does not exist");
		goto out;
	}
	if (login->user == NULL || login->user[0] == '\0' ||
	    field_copy(sess.user, login->user, true) != 0 ||
	    field_copy(sess.service, login->service, true) != 0) {
		verdict_set(v, VERDICT_REJECT, "user or service name unusable for a session");
		goto out;
	}
	(void)field_copy(sess.tty, login->tty, false);
	(void)field_copy(sess.rhost, login->rhost, false);
	/* the service is kept exactly (bind_service compares it): the application names it */
	field_sanitise(sess.tty);
	field_sanitise(sess.rhost);
	/* sudo and su count against the user who ran them, not against the target */
	if (login->owner != NULL && field_copy(sess.owner, login->owner, true) != 0) {
		verdict_set(v, VERDICT_REJECT, "user or service name unusable for a session");
		goto out;
	}
	if (sess.owner[0] == '\0')
		memcpy(sess.owner, sess.user, sizeof(sess.owner));
	sess.uid = login->uid;
	sess.leader_pid = login->leader_pid;
	sess.leader_start = login->leader_start;
	/* unreadable: "", this host; on a shared store a leader must say where it runs */
	if (leader_boot_id(sess.boot) != 0 && store_location_is_redis(config_store_location(cfg))) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot tell which host this is (boot id)");
		goto out;
	}
	/* the host's name, for listings and bind_host ("": none, which bind_host refuses) */
	if (leader_host_name(sess.host, sizeof(sess.host)) != 0 && cfg->bind_host) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot tell which host this is (host name)");
		goto out;
	}
	sess.created = now;
	sess.last_seen = now;
	sess.idle_timeout = cfg->idle_timeout;
	if (__builtin_add_overflow(now, cfg->session_ttl, &sess.expires)) {
		verdict_set(v, VERDICT_BAD_CONFIG, "session_ttl is out of range");
		goto out;
	}
	if (login->origin_jti != NULL) {
		if (!session_digest_looks_like(login->origin_jti)) {
			verdict_set(v, VERDICT_REJECT, "origin of the login is malformed");
			goto out;
		}
		memcpy(sess.origin_jti, login->origin_jti, STORE_DIGEST_HEX_LEN + 1);
	}
	if (login->parent != NULL && session_inherit(st, login, now, &sess, v) != 0)
		goto out;
	if (store_session_id_new(id_out) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no randomness for a session ID");
		goto out;
	}
	store_digest_hex(id_out, strlen(id_out), digest_out);
	memcpy(sess.digest, digest_out, sizeof(sess.digest));
	if (store_session_put(st, id_out, &sess, v) != 0) {
		if (v->code == VERDICT_OK)
			verdict_set(v, VERDICT_UNAVAILABLE, "session store failed");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (rc != 0) {
		OPENSSL_cleanse(id_out, STORE_SESSION_ID_LEN + 1);
		digest_out[0] = '\0';
	}
	return rc;
}
