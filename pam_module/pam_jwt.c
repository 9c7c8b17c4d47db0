/*
 * pam_jwt.so — PAM entry points. Each one parses options, asks core for a verdict, maps
 * it to a PAM code and logs the reason. No decision is made here.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>

#include "clock.h"
#include "config.h"
#include "jws.h"
#include "jwt.h"
#include "secmem.h"
#include "verdict.h"

#define PAM_JWT_EXPORT __attribute__((visibility("default")))
/* pam_set_data name of what the token that authenticated this handle established. */
#define PAM_JWT_DATA_VERIFIED "pam_jwt_verified"

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
	char text[320], name[33];

	verdict_describe(v, text, sizeof(text));
	if (user != NULL)
		verdict_label_copy(name, sizeof(name), user);
	else
		snprintf(name, sizeof(name), "(unknown)");
	pam_syslog(pamh, priority, "%s for user %s: %s", verdict_code_name(v->code), name, text);
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
	char *answer = NULL;
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

PAM_JWT_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc,
				       const char **argv)
{
	struct config cfg;
	struct verdict v;
	struct keyset *ks = NULL;
	struct jwt_verified *verified = NULL;
	const struct passwd *pw;
	const char *user = NULL;
	char *token = NULL;
	int prompted = 0, rc;

	(void)flags;
	verdict_init(&v);
	/* Nothing from an earlier attempt on this handle may count for this one. */
	pam_set_data(pamh, PAM_JWT_DATA_VERIFIED, NULL, NULL);
	rc = load_config(pamh, argc, argv, 1, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	rc = pam_get_user(pamh, &user, NULL);
	if (rc != PAM_SUCCESS || user == NULL || user[0] == '\0') {
		pam_syslog(pamh, LOG_NOTICE, "cannot determine the user name");
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	rc = get_token(pamh, &cfg, &token, &prompted);
	if (rc != PAM_SUCCESS)
		goto out;
	if (prompted && pam_set_item(pamh, PAM_AUTHTOK, token) != PAM_SUCCESS) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	if (!jws_looks_like(token, strlen(token))) {
		if (cfg.ignore_non_jwt) {
			if (cfg.debug)
				pam_syslog(pamh, LOG_DEBUG, "input is not a JWT: ignored");
			rc = PAM_IGNORE;
			goto out;
		}
		verdict_set(&v, VERDICT_REJECT, "input is not a JWT");
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
	verified = calloc(1, sizeof(*verified));
	if (verified == NULL) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	if (jwt_keyset_load(&cfg, &ks, &v) != 0 ||
	    jwt_verify_full(&cfg, ks, token, user, clock_now(), verified, &v) != 0) {
		log_verdict(pamh, v.code == VERDICT_REJECT ? LOG_NOTICE : LOG_ERR, user, &v);
		rc = pam_code_for(v.code == VERDICT_OK ? VERDICT_REJECT : v.code);
		goto out;
	}
	if (pam_set_data(pamh, PAM_JWT_DATA_VERIFIED, verified, verified_data_cleanup) !=
	    PAM_SUCCESS) {
		rc = PAM_BUF_ERR;
		goto out;
	}
	verified = NULL;
	log_verdict(pamh, LOG_INFO, user, &v);
	rc = PAM_SUCCESS;
out:
	if (verified != NULL)
		verified_data_cleanup(pamh, verified, 0);
	keyset_free(ks);
	secmem_free_string(token);
	config_free(&cfg);
	return rc;
}

PAM_JWT_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	const void *data = NULL;
	int rc = PAM_IGNORE;

	(void)flags;
	(void)argc;
	(void)argv;
	/* no credentials of our own: success only after our own authentication */
	if (pam_get_data(pamh, PAM_JWT_DATA_VERIFIED, &data) == PAM_SUCCESS && data != NULL)
		rc = PAM_SUCCESS;
	return rc;
}

/* Re-check the claims of the token that authenticated this handle: it may have expired
 * since, or the account phase's own arguments may ask for more. Its signature was verified
 * by this process in the auth phase, so no key is read again. */
PAM_JWT_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct config cfg;
	struct verdict v;
	const void *data = NULL;
	const char *user = NULL;
	int rc;

	(void)flags;
	memset(&cfg, 0, sizeof(cfg));
	verdict_init(&v);
	/* Options are checked for every login, so a bad account line never goes unnoticed. */
	rc = load_config(pamh, argc, argv, 0, &cfg);
	if (rc != PAM_SUCCESS)
		goto out;
	if (pam_get_data(pamh, PAM_JWT_DATA_VERIFIED, &data) != PAM_SUCCESS || data == NULL) {
		rc = PAM_IGNORE;
		goto out;
	}
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || user == NULL) {
		rc = PAM_USER_UNKNOWN;
		goto out;
	}
	if (jwt_recheck(&cfg, data, user, clock_now(), &v) != 0) {
		log_verdict(pamh, LOG_NOTICE, user, &v);
		rc = v.code == VERDICT_REJECT ? PAM_PERM_DENIED : pam_code_for(v.code);
		goto out;
	}
	rc = PAM_SUCCESS;
out:
	config_free(&cfg);
	return rc;
}
