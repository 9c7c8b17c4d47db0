#include "tokens.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "keyring.h"
#include "proto.h"
#include "store.h"

void tokens_free(char *token)
{
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	free(token);
}

/* A string member of an answer, copied; NULL if absent or not a string. */
static char *answer_string(const struct proto_answer *ans, const char *name)
{
	const char *value = json_string_value(json_object_get(ans->root, name));

	return value != NULL ? strdup(value) : NULL;
}

int tokens_request(const struct config *cfg, const char *session_digest, char **access,
		   char **refresh, struct verdict *v)
{
	struct proto_request req;
	struct proto_answer ans;
	char *msg = NULL, *answer = NULL;
	const char *reason = NULL;
	size_t answer_len = 0;
	int rc = -1;

	memset(&req, 0, sizeof(req));
	memset(&ans, 0, sizeof(ans));
	*access = NULL;
	*refresh = NULL;
	req.op = PROTO_OP_OPEN;
	req.session = (char *)(uintptr_t)session_digest;
	msg = proto_request_format(&req, &reason);
	if (msg == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, reason != NULL ? reason : "malformed request");
		goto out;
	}
	if (proto_call(cfg->socket_path, msg, strlen(msg), TOKENS_DAEMON_TIMEOUT_MS, &answer,
		       &answer_len, &reason) != 0 ||
	    proto_answer_parse(answer, answer_len, &ans, &reason) != 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, reason);
		goto out;
	}
	if (!ans.ok) {
		/* the daemon's reason is a fixed string of its own, but not ours to keep */
		verdict_set(v, VERDICT_REJECT, "pam-jwtd refused to issue tokens");
		goto out;
	}
	*access = answer_string(&ans, "access_token");
	*refresh = answer_string(&ans, "refresh_token");
	if (*access == NULL || *refresh == NULL ||
	    !store_refresh_id_looks_like(*refresh, strlen(*refresh))) {
		verdict_set(v, VERDICT_UNAVAILABLE, "pam-jwtd answer is malformed");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	if (rc != 0) {
		tokens_free(*access);
		tokens_free(*refresh);
		*access = NULL;
		*refresh = NULL;
	}
	proto_answer_clear(&ans);
	proto_message_free(msg);
	proto_message_free(answer);
	return rc;
}

int tokens_keyring_store(uid_t uid, gid_t gid, const char *session_id, const char *access,
			 const char *refresh, struct verdict *v)
{
	const char *reason = NULL;
	int rc = -1;

	if (keyring_put(uid, gid, KEYRING_SESSION, session_id, strlen(session_id), &reason) != 0 ||
	    (access != NULL &&
	     keyring_put(uid, gid, KEYRING_ACCESS, access, strlen(access), &reason) != 0) ||
	    (refresh != NULL &&
	     keyring_put(uid, gid, KEYRING_REFRESH, refresh, strlen(refresh), &reason) != 0)) {
		verdict_set(v, VERDICT_UNAVAILABLE, reason != NULL ? reason : "keyring failed");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	return rc;
}

int tokens_keyring_credential(uid_t uid, bool session_id, bool access_token,
			      char **credential, struct verdict *v)
{
	const char *order[2], *reason = NULL;
	char *data = NULL;
	size_t len = 0, i, n = 0;
	int got = 1, rc = -1;

	*credential = NULL;
	if (session_id)
		order[n++] = KEYRING_SESSION;
	if (access_token)
		order[n++] = KEYRING_ACCESS;
	for (i = 0; i < n && got == 1; i++) {
		got = keyring_get(uid, order[i], &data, &len, &reason);
		if (got < 0) {
			verdict_set(v, VERDICT_UNAVAILABLE, reason != NULL ? reason : "keyring failed");
			goto out;
		}
	}
	if (got == 1) {
		rc = 1;
		goto out;
	}
	*credential = strdup(data);
	if (*credential == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	verdict_ok(v);
	rc = 0;
out:
	keyring_data_free(data, len);
	return rc;
}
