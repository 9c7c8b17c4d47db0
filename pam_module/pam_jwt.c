/*
 * pam_jwt.so — PAM entry points. Each one parses options, asks core for a verdict, maps
 * it to a PAM code and logs the reason. No decision is made here.
 */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#define PAM_SM_SESSION
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "clock.h"
#include "config.h"
#include "jws.h"
#include "jwt.h"
#include "keyring.h"
#include "leader.h"
#include "secmem.h"
#include "session.h"
#include "store.h"
#include "tokens.h"
#include "user.h"
#include "verdict.h"

#define PAM_JWT_EXPORT __attribute__((visibility("default")))
/* pam_set_data name of what the token that authenticated this handle established. */
#define PAM_JWT_DATA_VERIFIED "pam_jwt_verified"
/* ... the digest of the session ID that authenticated it ... */
#define PAM_JWT_DATA_AUTH_SESSION "pam_jwt_auth_session"
/* ... and the digest of the session open_session recorded, for close_session. */
#define PAM_JWT_DATA_SESSION "pam_jwt_session"
#define PAM_JWT_ENV_SESSION "PAM_JWT_SESSION"
/* What authenticated a login, for the session it opens: "session:<digest>",
 * "jti:<hex sha256(jti)>", or for a token minted for one of our sessions
 * "jti:<hex sha256(jti)>,session:<its sid>" (either part may stand alone). Kept in the PAM environment as well as on the handle because
 * some applications (sshd) authenticate in another process than the one that opens the
 * session; open_session removes it. It only ever shortens a session's life (a forged value
 * can cut the forger's own session short, nothing more), and holds no credential. */
#define PAM_JWT_ENV_ORIGIN "PAM_JWT_AUTH_ORIGIN"
#define ORIGIN_SESSION "session:"
#define ORIGIN_JTI "jti:"

static int pam_code_for(enum verdict_code code)
{
	switch (code) {
	case VERDICT_OK: return PAM_SUCCESS;
	case VERDICT_REJECT: return PAM_AUTH_ERR;
	case VERDICT_UNAVAILABLE: return PAM_AUTHINFO_UNAVAIL;
	case VERDICT_BAD_CONFIG: return PAM_SERVICE_ERR;
	}
	return PAM_SERVICE_ERR;
}

/* user is NULL when it is not a known account: a name typed at a login prompt can be a
 * mistyped password or a pasted token, and must not reach the log. */
static void log_verdict(pam_handle_t *pamh, int priority, const char *user,
			const struct verdict *v)
{
	char text[VERDICT_TEXT_MAX], name[33];

	verdict_describe(v, text, sizeof(text));
	if (user != NULL)
		verdict_label_copy(name, sizeof(name), user);
	else
		snprintf(name, sizeof(name), "(unknown)");
	pam_syslog(pamh, priority, "%s for user %s: %s", verdict_code_name(v->code), name, text);
}

/* As log_verdict, naming a session by the first hex digits of its digest (never the ID). */
static void log_session_verdict(pam_handle_t *pamh, int priority, const char *user,
				const struct verdict *v, const char *digest)
{
	char text[VERDICT_TEXT_MAX], name[33];

	verdict_describe(v, text, sizeof(text));
	verdict_label_copy(name, sizeof(name), user != NULL ? user : "(unknown)");
	pam_syslog(pamh, priority, "%s for user %s: %s (session=%.*s)", verdict_code_name(v->code),
		   name, text, SESSION_DIGEST_SHOWN, digest != NULL ? digest : "-");
}

/* The store for the checks of a JWT (session_store_open_jwt). When pam-jwtd's mirror
 * stands in for an unreachable shared store, why the store failed and that the mirror is
 * used are both logged. */
static int open_store_jwt(pam_handle_t *pamh, const struct config *cfg, bool must_exist,
			  const char *user, int64_t now, struct store **st, struct verdict *v)
{
	struct verdict store_v;
	int rc = session_store_open_jwt(cfg, must_exist, now, st, &store_v, v);

	if (store_v.code != VERDICT_OK)
		log_verdict(pamh, LOG_ERR, user, &store_v);
	if (rc == 0 && store_is_mirror(*st)) {
		char text[VERDICT_TEXT_MAX], name[33];

		verdict_describe(v, text, sizeof(text));
		verdict_label_copy(name, sizeof(name), user != NULL ? user : "(unknown)");
		pam_syslog(pamh, LOG_WARNING, "user %s: %s (store_unavailable = last_known)",
			   name, text);
	}
	return rc;
}

/* What loading the verification keys noted (a key skipped, a key or file refused), one
 * line each. */
static void log_key_notes(pam_handle_t *pamh, int priority, const struct keyset_notes *notes)
{
	size_t i;

	for (i = 0; i < notes->count; i++)
		pam_syslog(pamh, priority, "keys: %s", notes->line[i]);
	if (notes->dropped > 0)
		pam_syslog(pamh, priority, "keys: %zu more note(s) not logged", notes->dropped);
}

/* explain_refusal: tell the user why their credential was refused, for the reasons core
 * allows (verdict_user_message); never anything else. */
static void explain_refusal(pam_handle_t *pamh, const struct config *cfg,
			    const struct verdict *v)
{
	const char *message = cfg->explain_refusal ? verdict_user_message(v) : NULL;

	if (message != NULL && pam_error(pamh, "%s", message) != PAM_SUCCESS && cfg->debug)
		pam_syslog(pamh, LOG_DEBUG, "could not show the refusal to the user");
}

/* The longest answer sudo's conversation passes on: it refuses one of PAM_MAX_RESP_SIZE
 * bytes or more, so a token that long never arrives, and one cut to fit arrives broken. */
#define SUDO_ANSWER_MAX (PAM_MAX_RESP_SIZE - 1)
#define SUDO_HINT "sudo passes answers of at most 511 bytes: use a shorter token " \
		  "(ES256, EdDSA) or token_source=keyring"

static void string_data_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	free(data);
}

/* Keep a copy of a session digest on the handle under `name`. */
static int set_digest_data(pam_handle_t *pamh, const char *name, const char *digest)
{
	char *copy = strdup(digest);
	int rc = PAM_BUF_ERR;

	if (copy == NULL)
		goto out;
	rc = pam_set_data(pamh, name, copy, string_data_cleanup);
	if (rc != PAM_SUCCESS)
		free(copy);
out:
	return rc;
}

static const char *pam_item_string(pam_handle_t *pamh, int item_type)
{
	const void *item = NULL;

	if (pam_get_item(pamh, item_type, &item) != PAM_SUCCESS)
		item = NULL;
	return item;
}

static void verified_data_cleanup(pam_handle_t *pamh, void *data, int error_status)
{
	(void)pamh;
	(void)error_status;
	jwt_verified_clear(data);
	free(data);
}

static int load_config(pam_handle_t *pamh, int argc, const char **argv, int need_keys,
		       struct config *cfg)
{
	struct verdict v;
	int rc = PAM_SUCCESS;

	verdict_init(&v);
	if (config_init(cfg) != 0) {
		pam_syslog(pamh, LOG_CRIT, "out of memory");
		rc = PAM_BUF_ERR;
		goto out;
	}
	if (config_from_args(cfg, argc, argv, &v) != 0 ||
	    (need_keys && config_validate(cfg, &v) != 0)) {
		log_verdict(pamh, LOG_ERR, NULL, &v);
		rc = pam_code_for(v.code);
	}
out:
	return rc;
}

/* The credential: PAM_AUTHTOK with use_first_pass/try_first_pass, else the conversation.
 * *token is a copy the caller wipes; *prompted says whether it came from the user. */
static int get_token(pam_handle_t *pamh, const struct config *cfg, char **token, int *prompted)
{
	const void *item = NULL;
	const char *service;
	char *answer = NULL;
	bool sudo;
	int rc;

	*token = NULL;
	*prompted = 0;
	if (cfg->use_first_pass || cfg->try_first_pass) {
		rc = pam_get_item(pamh, PAM_AUTHTOK, &item);
		if (rc == PAM_SUCCESS && item != NULL) {
			*token = strdup(item);
			rc = *token != NULL ? PAM_SUCCESS : PAM_BUF_ERR;
			goto out;
		}
		if (cfg->use_first_pass) {
			pam_syslog(pamh, LOG_NOTICE, "use_first_pass: no earlier answer to use");
			rc = PAM_AUTH_ERR;
			goto out;
		}
	}
	rc = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", cfg->prompt);
	if (rc != PAM_SUCCESS || answer == NULL) {
		rc = rc == PAM_SUCCESS ? PAM_CONV_ERR : rc;
		service = pam_item_string(pamh, PAM_SERVICE);
		sudo = rc == PAM_CONV_ERR && service != NULL && strncmp(service, "sudo", 4) == 0;
		pam_syslog(pamh, LOG_NOTICE, "no answer from the conversation (%s)%s%s",
			   pam_strerror(pamh, rc), sudo ? "; if a token was given: " : "",
			   sudo ? SUDO_HINT : "");
		secmem_free_string(answer);
		goto out;
	}
	*token = answer;
	*prompted = 1;
	answer = NULL;
	rc = PAM_SUCCESS;
out:
	return rc;
}

/* Note what authenticated this login in the PAM environment (see PAM_JWT_ENV_ORIGIN):
 * the digest of a jti and/or of a session (NULL or "": none). */
static int set_origin_env(pam_handle_t *pamh, const char *jti_digest, const char *session)
{
	char env[sizeof(PAM_JWT_ENV_ORIGIN) + sizeof(ORIGIN_JTI) + sizeof(ORIGIN_SESSION) +
		 2 * STORE_DIGEST_HEX_LEN + 2];
	bool jti = jti_digest != NULL && jti_digest[0] != '\0';
	bool sess = session != NULL && session[0] != '\0';

	if (!jti && !sess)
		return PAM_SUCCESS;
	snprintf(env, sizeof(env), "%s=%s%s%s%s%s", PAM_JWT_ENV_ORIGIN, jti ? ORIGIN_JTI : "",
		 jti ? jti_digest : "", jti && sess ? "," : "", sess ? ORIGIN_SESSION : "",
		 sess ? session : "");
	return pam_putenv(pamh, env);
}

/* Take "<prefix><64 hex>" off the front of *p into out; 0, or -1 if it is not there. */
static int origin_take(const char **p, const char *prefix, char out[STORE_DIGEST_HEX_LEN + 1])
{
	size_t n = strlen(prefix);
	int rc = -1;

	if (strncmp(*p, prefix, n) != 0 || strnlen(*p + n, STORE_DIGEST_HEX_LEN + 1) <
						   STORE_DIGEST_HEX_LEN)
		goto out;
	memcpy(out, *p + n, STORE_DIGEST_HEX_LEN);
	out[STORE_DIGEST_HEX_LEN] = '\0';
	if (!session_digest_looks_like(out)) {
		out[0] = '\0';
		goto out;
	}
	*p += n + STORE_DIGEST_HEX_LEN;
	rc = 0;
out:
	return rc;
}

/* The "sid" of a verified token when it names one of our sessions (its shape), else "". */
static void verified_sid(const struct jwt_verified *verified, char out[STORE_DIGEST_HEX_LEN + 1])
{
	const char *sid = json_string_value(json_object_get(verified->claims, "sid"));

	out[0] = '\0';
	if (sid != NULL && session_digest_looks_like(sid))
		memcpy(out, sid, STORE_DIGEST_HEX_LEN + 1);
}

/* Take the variable out of the environment (libpam complains about deleting one that is
 * not there). */
static void clear_origin_env(pam_handle_t *pamh)
{
	if (pam_getenv(pamh, PAM_JWT_ENV_ORIGIN) != NULL)
		(void)pam_putenv(pamh, PAM_JWT_ENV_ORIGIN);
}

/* What authenticated this login: the handle's own data first, else the environment. Fills
 * parent or origin_jti (64 hex + NUL each); -1 if the environment holds a malformed value. */
static int login_origin(pam_handle_t *pamh, char parent[STORE_DIGEST_HEX_LEN + 1],
			char origin_jti[STORE_DIGEST_HEX_LEN + 1])
{
	const void *data = NULL;
	const struct jwt_verified *verified;
	const char *env, *jti;
	int rc = 0;

	parent[0] = '\0';
	origin_jti[0] = '\0';
	if (pam_get_data(pamh, PAM_JWT_DATA_AUTH_SESSION, &data) == PAM_SUCCESS && data != NULL) {
		snprintf(parent, STORE_DIGEST_HEX_LEN + 1, "%s", (const char *)data);
		goto out;
	}
	if (pam_get_data(pamh, PAM_JWT_DATA_VERIFIED, &data) == PAM_SUCCESS && data != NULL) {
		verified = data;
		jti = json_string_value(json_object_get(verified->claims, "jti"));
		if (jti != NULL)
			store_digest_hex(jti, strlen(jti), origin_jti);
		/* a token minted for a live session: this login is that session's child */
		verified_sid(verified, parent);
		goto out;
	}
	env = pam_getenv(pamh, PAM_JWT_ENV_ORIGIN);
	if (env == NULL || env[0] == '\0')
		goto out;
	if (origin_take(&env, ORIGIN_JTI, origin_jti) == 0 && *env == ',')
		env++;
	if (origin_take(&env, ORIGIN_SESSION, parent) != 0)
		parent[0] = '\0';
	if (*env != '\0' || (parent[0] == '\0' && origin_jti[0] == '\0'))
		rc = -1;
out:
	return rc;
}

/* The JWT path: signature and claims, then (only then) the store checks, which consume a
 * single-use jti. On success the verified token is kept on the handle. */
static int auth_jwt(pam_handle_t *pamh, const struct config *cfg, const char *user,
		    const char *service, const char *token)
{
	struct verdict v;
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct jwt_refetch rf;
	struct store *st = NULL;
	struct jwt_verified *verified = NULL;
	const void *verified_kept;
	const char *jti;
	char digest[STORE_DIGEST_HEX_LEN + 1], sid[STORE_DIGEST_HEX_LEN + 1];
	int64_t now = clock_now();
	int rc, keys_rc = -1;

	verdict_init(&v);
	verified = calloc(1, sizeof(*verified));
	if (verified == NULL) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	/* Keys skipped in a published key set are noted at every login: logged only with
	 * debug (pam-jwtd and pam-jwtctl verify show them once), unless loading failed. */
	if (jwt_keyset_load(cfg, &ks, &notes, &v) != 0)
		log_key_notes(pamh, LOG_ERR, &notes);
	else if (cfg->debug)
		log_key_notes(pamh, LOG_NOTICE, &notes);
	if (ks != NULL) {
		keys_rc = jwt_verify_refetch(cfg, &ks, &notes, token, user, now, verified, &rf, &v);
		if (rf.asked)
			pam_syslog(pamh, rf.fetched ? LOG_NOTICE : LOG_ERR,
				   "token kid unknown; asked pam-jwtd for the issuer's keys: %s",
				   rf.answer);
		if (rf.fetched && cfg->debug)
			log_key_notes(pamh, LOG_NOTICE, &notes);
	}
	if (ks == NULL || keys_rc != 0 ||
	    open_store_jwt(pamh, cfg, true, user, now, &st, &v) != 0 ||
	    session_check_jwt(st, cfg, verified, user, service, now, true, &v) != 0) {
		log_verdict(pamh, v.code == VERDICT_REJECT ? LOG_NOTICE : LOG_ERR, user, &v);
		explain_refusal(pamh, cfg, &v);
		rc = pam_code_for(v.code == VERDICT_OK ? VERDICT_REJECT : v.code);
		goto out;
	}
	if (pam_set_data(pamh, PAM_JWT_DATA_VERIFIED, verified, verified_data_cleanup) !=
	    PAM_SUCCESS) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	verified_kept = verified;
	verified = NULL;
	jti = json_string_value(json_object_get(
		((const struct jwt_verified *)verified_kept)->claims, "jti"));
	digest[0] = '\0';
	if (jti != NULL)
		store_digest_hex(jti, strlen(jti), digest);
	verified_sid(verified_kept, sid);
	rc = set_origin_env(pamh, digest, sid);
	if (rc != PAM_SUCCESS)
		goto out;
	log_verdict(pamh, LOG_INFO, user, &v);
	rc = PAM_SUCCESS;
out:
	if (verified != NULL)
		verified_data_cleanup(pamh, verified, 0);
	store_close(st);
	keyset_free(ks);
	return rc;
}

/* The session-ID path: a live session of this user (and service, with bind_service). On
 * success its digest is kept on the handle for the account phase. */
static int auth_session(pam_handle_t *pamh, const struct config *cfg, const char *user,
			const char *service, const char *session_id)
{
	struct verdict v;
	struct store *st = NULL;
	char digest[STORE_DIGEST_HEX_LEN + 1];
	int rc;

	verdict_init(&v);
	/* the digest names the session in logs; it is no credential */
	store_digest_hex(session_id, strlen(session_id), digest);
	if (session_store_open(cfg, true, &st, &v) != 0 ||
	    session_check_id(st, cfg, session_id, user, service, clock_now(), NULL, &v) != 0) {
		log_session_verdict(pamh, v.code == VERDICT_REJECT ? LOG_NOTICE : LOG_ERR, user, &v,
				    digest);
		rc = pam_code_for(v.code == VERDICT_OK ? VERDICT_REJECT : v.code);
		goto out;
	}
	rc = set_digest_data(pamh, PAM_JWT_DATA_AUTH_SESSION, digest);
	if (rc == PAM_SUCCESS)
		rc = set_origin_env(pamh, NULL, digest);
	if (rc != PAM_SUCCESS)
		goto out;
	log_session_verdict(pamh, LOG_INFO, user, &v, digest);
out:
	store_close(st);
	return rc;
}

/* token_source=keyring: the credential a live login of this user left in their keyring,
 * verified exactly as if it had been typed. Only for a process the user runs themselves
 * (sudo: real uid = the user): su by someone else never reads the target's keyring. */
static int auth_keyring(pam_handle_t *pamh, const struct config *cfg, const char *user,
			const char *service, const struct passwd *pw)
{
	struct verdict v;
	struct config keyring_cfg;
	char *credential = NULL;
	int got, rc = PAM_AUTH_ERR;

	verdict_init(&v);
	/* An access token in the keyring was minted for a session of this host: it counts only
	 * while that session is live, so a revoked session stops this path at once. */
	keyring_cfg = *cfg;
	keyring_cfg.require_session = true;
	/* The setuid case only (sudo run by the user): a root service (sshd, login, a screen
	 * locker) authenticating a user must never take the keyring for a credential. */
	if (getuid() != pw->pw_uid || getuid() == 0 || geteuid() != 0) {
		if (cfg->debug)
			pam_syslog(pamh, LOG_DEBUG, "keyring: not the user's own setuid process");
		goto out;
	}
	got = tokens_keyring_credential(pw->pw_uid, (cfg->accept & CONFIG_ACCEPT_SESSION) != 0,
					(cfg->accept & CONFIG_ACCEPT_JWT) != 0, &credential, &v);
	if (got != 0) {
		if (got < 0)
			log_verdict(pamh, LOG_ERR, user, &v);
		else if (cfg->debug)
			pam_syslog(pamh, LOG_DEBUG, "keyring: no credential");
		goto out;
	}
	if ((cfg->accept & CONFIG_ACCEPT_SESSION) != 0 &&
	    store_session_id_looks_like(credential, strlen(credential)))
		rc = auth_session(pamh, cfg, user, service, credential);
	else if ((cfg->accept & CONFIG_ACCEPT_JWT) != 0 &&
		 jws_looks_like(credential, strlen(credential)))
		rc = auth_jwt(pamh, &keyring_cfg, user, service, credential);
out:
	tokens_free(credential);
	return rc;
}

/* A refused answer of exactly SUDO_ANSWER_MAX bytes: likely a longer token, cut. */
static void note_cut(pam_handle_t *pamh)
{
	pam_syslog(pamh, LOG_NOTICE, "the answer is %d bytes, the most sudo passes: the token "
		   "may have been cut; %s", SUDO_ANSWER_MAX, SUDO_HINT);
}

PAM_JWT_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				       const char **argv)
{
	struct config cfg;
	struct verdict v;
	const struct passwd *pw;
	const char *user = NULL, *service;
	char *token = NULL;
	size_t len;
	int prompted = 0, is_session = 0, rc;

	(void)flags;
	verdict_init(&v);
	/* Nothing from an earlier attempt on this handle may count for this one. */
	pam_set_data(pamh, PAM_JWT_DATA_VERIFIED, NULL, NULL);
	pam_set_data(pamh, PAM_JWT_DATA_AUTH_SESSION, NULL, NULL);
	clear_origin_env(pamh);
	rc = load_config(pamh, argc, argv, 1, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS || user == NULL || user[0] == '\0') {
		pam_syslog(pamh, LOG_NOTICE, "cannot determine the user name");
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	if (cfg.token_source != CONFIG_SOURCE_PROMPT) {
		/* an unknown user is not told apart here: the prompt path refuses it later */
		pw = pam_modutil_getpwnam(pamh, user);
		rc = pw != NULL && strcmp(pw->pw_name, user) == 0 ?
			     auth_keyring(pamh, &cfg, user, pam_item_string(pamh, PAM_SERVICE), pw) :
			     PAM_AUTH_ERR;
		if (rc == PAM_SUCCESS || cfg.token_source == CONFIG_SOURCE_KEYRING_ONLY)
			goto out;
	}
	rc = get_token(pamh, &cfg, &token, &prompted);
	if (rc != PAM_SUCCESS)
		goto out;
	if (prompted && pam_set_item(pamh, PAM_AUTHTOK, token) != PAM_SUCCESS) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	len = strlen(token);
	if ((cfg.accept & CONFIG_ACCEPT_SESSION) != 0 && store_session_id_looks_like(token, len)) {
		is_session = 1;
	} else if ((cfg.accept & CONFIG_ACCEPT_JWT) == 0 || !jws_looks_like(token, len)) {
		if (prompted && len == SUDO_ANSWER_MAX && strncmp(token, "eyJ", 3) == 0)
			note_cut(pamh);
		if (cfg.ignore_non_jwt) {
			if (cfg.debug)
				pam_syslog(pamh, LOG_DEBUG, "input is not a credential: ignored");
			rc = PAM_IGNORE;
			goto out;
		}
		verdict_set(&v, VERDICT_REJECT, (cfg.accept & CONFIG_ACCEPT_JWT) != 0 ?
						"input is not a JWT" : "input is not a session ID");
		log_verdict(pamh, LOG_NOTICE, NULL, &v);
		rc = PAM_AUTH_ERR;
		goto out;
	}
	pw = pam_modutil_getpwnam(pamh, user);
	if (pw == NULL || strcmp(pw->pw_name, user) != 0) {
		verdict_set(&v, VERDICT_REJECT, "no such user");
		log_verdict(pamh, LOG_NOTICE, NULL, &v);
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	service = pam_item_string(pamh, PAM_SERVICE);
	rc = is_session ? auth_session(pamh, &cfg, user, service, token) :
			  auth_jwt(pamh, &cfg, user, service, token);
	if (rc != PAM_SUCCESS && prompted && !is_session && len == SUDO_ANSWER_MAX)
		note_cut(pamh);
out:
	secmem_free_string(token);
	config_free(&cfg);
	return rc;
}

/* The module sets no credentials, so there is nothing to fail: success, as pam_unix and
 * pam_u2f answer. sshd calls it in another process than the one that authenticated, so it
 * cannot depend on what authentication left on the handle; a token-only stack
 * (`auth required pam_jwt.so`) then needs no pam_permit for it. */
PAM_JWT_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

/* For every login: refuse a user locked in the store (under the account's name). For a
 * login this module authenticated in this process: re-check the claims of the token (it may
 * have expired since, or the account line may ask for more; its signature was verified in
 * the auth phase, so no key is read again) and its revocation, or that the session that
 * authenticated it is still live. Nothing is consumed again. A store directory that does not exist holds no locks: then
 * logins we did not authenticate are ignored. */
PAM_JWT_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct config cfg;
	struct verdict v;
	struct store *st = NULL;
	const void *jwt_data = NULL, *session_data = NULL;
	const char *user, *service;
	char account[STORE_FIELD_MAX];
	int64_t now = clock_now();
	bool ours;
	int rc;

	(void)flags;
	memset(&cfg, 0, sizeof(cfg));
	verdict_init(&v);
	/* Options are checked for every login, so a bad account line never goes unnoticed. */
	rc = load_config(pamh, argc, argv, 0, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	if (pam_get_data(pamh, PAM_JWT_DATA_VERIFIED, &jwt_data) != PAM_SUCCESS)
		jwt_data = NULL;
	if (pam_get_data(pamh, PAM_JWT_DATA_AUTH_SESSION, &session_data) != PAM_SUCCESS)
		session_data = NULL;
	ours = jwt_data != NULL || session_data != NULL;
	user = pam_item_string(pamh, PAM_USER);
	service = pam_item_string(pamh, PAM_SERVICE);
	if (user == NULL || user[0] == '\0') {
		rc = ours ? PAM_USER_UNKNOWN : PAM_IGNORE;
		goto out;
	}
	if (jwt_data != NULL && jwt_recheck(&cfg, jwt_data, user, now, &v) != 0)
		goto refused;
	/* a session-ID login needs the store itself; a JWT or another module's login may see
	 * pam-jwtd's mirror of locks and revocations (store_unavailable = last_known) */
	if ((session_data != NULL ? session_store_open(&cfg, ours, &st, &v) :
				    open_store_jwt(pamh, &cfg, ours, user, now, &st, &v)) != 0)
		goto refused;
	if (st == NULL) {
		rc = PAM_IGNORE;
		goto out;
	}
	/* Locks are on the account name (pw_name), which an NSS source that folds case gives
	 * for other spellings too: the name another module let in may be one of those. */
	if (user_canonical_name(user, account, sizeof(account), &v) < 0 ||
	    store_user_check(st, account, now, &v) != 0 ||
	    (strcmp(account, user) != 0 && store_user_check(st, user, now, &v) != 0))
		goto refused;
	if (!ours) {
		rc = PAM_IGNORE;
		goto out;
	}
	if (jwt_data != NULL &&
	    session_check_jwt(st, &cfg, jwt_data, user, service, now, false, &v) != 0)
		goto refused;
	if (session_data != NULL &&
	    session_check_digest(st, &cfg, session_data, user, service, now, &v) != 0)
		goto refused;
	rc = PAM_SUCCESS;
	goto out;
refused:
	if (v.code == VERDICT_OK)
		verdict_set(&v, VERDICT_REJECT, "not verified");
	if (session_data != NULL)
		log_session_verdict(pamh, v.code == VERDICT_REJECT ? LOG_NOTICE : LOG_ERR, user, &v,
				    session_data);
	else
		log_verdict(pamh, v.code == VERDICT_REJECT ? LOG_NOTICE : LOG_ERR, user, &v);
	if (jwt_data != NULL)
		explain_refusal(pamh, &cfg, &v);
	rc = v.code == VERDICT_REJECT ? PAM_PERM_DENIED : pam_code_for(v.code);
out:
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* Show the new session ID to the user and put it in the session's environment. */
static int announce_session(pam_handle_t *pamh, const char *session_id)
{
	char env[sizeof(PAM_JWT_ENV_SESSION) + STORE_SESSION_ID_LEN + 1];
	int rc;

	snprintf(env, sizeof(env), "%s=%s", PAM_JWT_ENV_SESSION, session_id);
	/* an application without a way to show text still gets the environment variable */
	if (pam_info(pamh, "Session ID: %s", session_id) != PAM_SUCCESS)
		pam_syslog(pamh, LOG_NOTICE, "could not show the session ID to the user");
	rc = pam_putenv(pamh, env);
	OPENSSL_cleanse(env, sizeof(env));
	return rc;
}

/* issue_tokens and keyring: a convenience, so a failure is logged and the login goes on. */
static void session_tokens(pam_handle_t *pamh, const struct config *cfg,
			   const struct passwd *pw, const char *session_id, const char *digest)
{
	struct verdict v;
	char *access = NULL, *refresh = NULL;

	verdict_init(&v);
	if (cfg->issue_tokens && tokens_request(cfg, digest, &access, &refresh, &v) != 0)
		pam_syslog(pamh, LOG_WARNING, "no tokens for session %.*s: %s",
			   SESSION_DIGEST_SHOWN, digest, v.reason);
	if (cfg->keyring &&
	    tokens_keyring_store(pw->pw_uid, pw->pw_gid, session_id, access, refresh, &v) != 0)
		pam_syslog(pamh, LOG_WARNING, "session %.*s not kept in the keyring: %s",
			   SESSION_DIGEST_SHOWN, digest, v.reason);
	tokens_free(access);
	tokens_free(refresh);
}

/* Record a session for every login through the stack, whatever authenticated it. */
PAM_JWT_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc,
				       const char **argv)
{
	struct config cfg;
	struct verdict v;
	struct store *st = NULL;
	struct session_login login;
	const struct passwd *pw, *owner_pw;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1], name[33];
	char parent[STORE_DIGEST_HEX_LEN + 1], origin_jti[STORE_DIGEST_HEX_LEN + 1];
	const void *data = NULL;
	const char *ruser;
	bool recorded = false, announce, own_login;
	int rc, origin_rc;

	(void)flags;
	memset(&login, 0, sizeof(login));
	memset(id, 0, sizeof(id));
	digest[0] = '\0';
	verdict_init(&v);
	rc = load_config(pamh, argc, argv, 0, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	/* One session per handle: a second open_session keeps the first. */
	if (pam_get_data(pamh, PAM_JWT_DATA_SESSION, &data) == PAM_SUCCESS && data != NULL) {
		pam_syslog(pamh, LOG_NOTICE, "session already open on this handle (session=%.*s)",
			   SESSION_DIGEST_SHOWN, (const char *)data);
		rc = PAM_SUCCESS;
		goto out;
	}
	origin_rc = login_origin(pamh, parent, origin_jti);
	clear_origin_env(pamh);
	if (origin_rc != 0) {
		verdict_set(&v, VERDICT_REJECT, "origin of the login is malformed");
		log_verdict(pamh, LOG_ERR, NULL, &v);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	login.parent = parent[0] != '\0' ? parent : NULL;
	login.ruser = pam_item_string(pamh, PAM_RUSER);
	login.origin_jti = origin_jti[0] != '\0' ? origin_jti : NULL;
	login.user = pam_item_string(pamh, PAM_USER);
	pw = login.user != NULL ? pam_modutil_getpwnam(pamh, login.user) : NULL;
	if (pw == NULL || strcmp(pw->pw_name, login.user) != 0) {
		verdict_set(&v, VERDICT_REJECT, "no such user");
		log_verdict(pamh, LOG_ERR, NULL, &v);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	login.uid = pw->pw_uid;
	/* sudo and su run with the invoking user's real uid: the session counts against
	 * that user (the kernel says who it is, not an item the application set) */
	if (getuid() != 0 && getuid() != pw->pw_uid) {
		owner_pw = pam_modutil_getpwuid(pamh, getuid());
		if (owner_pw == NULL) {
			verdict_set(&v, VERDICT_REJECT, "the invoking user is unknown");
			log_verdict(pamh, LOG_ERR, NULL, &v);
			rc = PAM_SESSION_ERR;
			goto out;
		}
		login.owner = owner_pw->pw_name;
	}
	login.service = pam_item_string(pamh, PAM_SERVICE);
	login.tty = pam_item_string(pamh, PAM_TTY);
	login.rhost = pam_item_string(pamh, PAM_RHOST);
	login.leader_pid = getpid();
	if (leader_start_time(login.leader_pid, &login.leader_start) != 0)
		login.leader_start = 0;
	/* A locked user gets no new session, whichever module let them in. */
	if (open_store_jwt(pamh, &cfg, true, login.user, clock_now(), &st, &v) != 0 ||
	    store_user_check(st, login.user, clock_now(), &v) != 0) {
		log_verdict(pamh, LOG_ERR, login.user, &v);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	if (store_is_mirror(st)) {
		/* store_unavailable = last_known, and the store cannot be reached: the login goes
		 * on unrecorded, unless a session ID opened it (that needs the store) */
		verdict_label_copy(name, sizeof(name), login.user);
		if (login.parent != NULL) {
			pam_syslog(pamh, LOG_ERR, "session refused for user %s: the session store "
				   "is unreachable and the login descends from a session", name);
			rc = PAM_SESSION_ERR;
			goto out;
		}
		pam_syslog(pamh, LOG_WARNING, "session of user %s not recorded: the session store "
			   "is unreachable (store_unavailable = last_known); it cannot be listed or "
			   "revoked, and pam-jwtd cannot end it", name);
		rc = PAM_SUCCESS;
		goto out;
	}
	if (session_record_new(st, &cfg, &login, clock_now(), id, digest, &v) != 0) {
		log_verdict(pamh, LOG_ERR, login.user, &v);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	recorded = true;
	/* The ID is a credential for PAM_USER: never hand it to someone else, as when sudo
	 * or su opens a session for the target user on behalf of the invoking one. */
	ruser = pam_item_string(pamh, PAM_RUSER);
	own_login = ruser == NULL || ruser[0] == '\0' || strcmp(ruser, login.user) == 0;
	announce = cfg.announce_session && own_login;
	if (set_digest_data(pamh, PAM_JWT_DATA_SESSION, digest) != PAM_SUCCESS ||
	    (announce && announce_session(pamh, id) != PAM_SUCCESS)) {
		pam_syslog(pamh, LOG_ERR, "cannot keep or announce the session (session=%.*s)",
			   SESSION_DIGEST_SHOWN, digest);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	if (own_login && (cfg.issue_tokens || cfg.keyring))
		session_tokens(pamh, &cfg, pw, id, digest);
	verdict_label_copy(name, sizeof(name), login.user);
	pam_syslog(pamh, LOG_INFO, "session opened for user %s (session=%.*s)", name,
		   SESSION_DIGEST_SHOWN, digest);
	rc = PAM_SUCCESS;
out:
	if (rc != PAM_SUCCESS && recorded) {
		/* no half-opened session stays behind */
		pam_set_data(pamh, PAM_JWT_DATA_SESSION, NULL, NULL);
		if (store_session_delete(st, digest, &v) != 0)
			log_session_verdict(pamh, LOG_ERR, login.user, &v, digest);
	}
	OPENSSL_cleanse(id, sizeof(id));
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* Remove the record open_session made on this handle; PAM_IGNORE when it made none. */
PAM_JWT_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc,
					const char **argv)
{
	struct config cfg;
	struct verdict v;
	struct store *st = NULL;
	const void *data = NULL;
	const struct passwd *pw;
	const char *user, *reason = NULL;
	char digest[STORE_DIGEST_HEX_LEN + 1], name[33];
	bool removed = false;
	int rc;

	(void)flags;
	digest[0] = '\0';
	verdict_init(&v);
	rc = load_config(pamh, argc, argv, 0, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	if (pam_get_data(pamh, PAM_JWT_DATA_SESSION, &data) != PAM_SUCCESS || data == NULL) {
		rc = PAM_IGNORE;
		goto out;
	}
	snprintf(digest, sizeof(digest), "%s", (const char *)data);
	user = pam_item_string(pamh, PAM_USER);
	if (session_store_open(&cfg, true, &st, &v) != 0 ||
	    store_session_delete(st, digest, &v) != 0) {
		if (v.code == VERDICT_OK)
			verdict_set(&v, VERDICT_UNAVAILABLE, "session store failed");
		log_session_verdict(pamh, LOG_ERR, user, &v, digest);
		rc = PAM_SESSION_ERR;
		goto out;
	}
	pam_set_data(pamh, PAM_JWT_DATA_SESSION, NULL, NULL);
	pw = cfg.keyring && user != NULL ? pam_modutil_getpwnam(pamh, user) : NULL;
	if (pw != NULL && keyring_remove_session(pw->pw_uid, digest, &removed, &reason) != 0)
		pam_syslog(pamh, LOG_WARNING, "session %.*s: keyring not cleared: %s",
			   SESSION_DIGEST_SHOWN, digest, reason);
	verdict_label_copy(name, sizeof(name), user != NULL ? user : "(unknown)");
	pam_syslog(pamh, LOG_INFO, "session closed for user %s (session=%.*s)", name,
		   SESSION_DIGEST_SHOWN, digest);
	rc = PAM_SUCCESS;
out:
	store_close(st);
	config_free(&cfg);
	return rc;
}
