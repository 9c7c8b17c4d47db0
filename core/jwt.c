#include "jwt.h"

#include <string.h>

#include "claims.h"
#include "jws.h"
#include "proto.h"
#include "secmem.h"

int jwt_keyset_load(const struct config *cfg, struct keyset **out, struct keyset_notes *notes,
		    struct verdict *v)
{
	struct keyset *ks = keyset_new();
	size_t i;
	int rc = -1;

	*out = NULL;
	if (notes != NULL)
		memset(notes, 0, sizeof(*notes));
	if (ks == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "out of memory");
		goto out;
	}
	ks->rsa_alg = cfg->jwks_rsa_alg;
	for (i = 0; i < cfg->jwks_count; i++) {
		if (keyset_add_jwks_file(ks, cfg->jwks_paths[i], v) != 0) {
			verdict_where_fill(v, cfg->jwks_lines[i] > 0 ? cfg->config_path : NULL,
					   cfg->jwks_lines[i], "jwks", cfg->jwks_paths[i]);
			goto out;
		}
	}
	for (i = 0; i < cfg->key_count; i++) {
		if (keyset_add_file(ks, cfg->keys[i].alg, cfg->keys[i].kid, cfg->keys[i].path,
				    v) != 0) {
			verdict_where_fill(v, cfg->keys[i].line > 0 ? cfg->config_path : NULL,
					   cfg->keys[i].line, "key", cfg->keys[i].path);
			goto out;
		}
	}
	if (ks->count == 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "no verification keys configured");
		goto out;
	}
	*out = ks;
	rc = 0;
out:
	if (notes != NULL && ks != NULL)
		*notes = ks->notes;
	if (rc != 0)
		keyset_free(ks);
	return rc;
}

int jwt_verify_full(const struct config *cfg, struct keyset *ks, const char *token,
		    const char *user, int64_t now, struct jwt_verified *out, struct verdict *v)
{
	struct jws_result jws;
	json_t *claims = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = jws_verify(token, strlen(token), cfg->max_token_size, ks, &jws, v);
	if (rc != 0)
		goto out;
	rc = -1;
	claims = json_loadb((const char *)jws.payload, jws.payload_len, JSON_REJECT_DUPLICATES,
			    NULL);
	if (!json_is_object(claims)) {
		verdict_set(v, VERDICT_REJECT, "payload is not a JSON object");
		goto out;
	}
	if (claims_check(cfg, jws.header, claims, user, now, v) != 0)
		goto out;
	out->header = json_incref(jws.header);
	out->claims = claims;
	claims = NULL;
	rc = 0;
out:
	if (rc != 0 && v->code == VERDICT_OK)
		verdict_set(v, VERDICT_REJECT, "not verified");
	json_decref(claims);
	jws_result_clear(&jws);
	return rc;
}

/* Copy what the daemon said into rf->answer, keeping printable ASCII only. */
static void refetch_answer(struct jwt_refetch *rf, const char *text)
{
	size_t i;

	for (i = 0; text[i] != '\0' && i + 1 < sizeof(rf->answer); i++)
		rf->answer[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	rf->answer[i] = '\0';
}

/* Ask pam-jwtd for an early refetch: true when it answered that it fetched the keys. */
static bool refetch_ask(const struct config *cfg, struct jwt_refetch *rf)
{
	static const char request[] = "{\"op\":\"jwks\"}";
	struct proto_answer ans;
	const char *reason = NULL;
	char *msg = NULL;
	size_t len = 0;
	bool fetched = false;

	memset(&ans, 0, sizeof(ans));
	rf->asked = true;
	if (proto_call(cfg->socket_path, request, sizeof(request) - 1, JWT_REFETCH_WAIT_MS, &msg,
		       &len, &reason) != 0 ||
	    proto_answer_parse(msg, len, &ans, &reason) != 0) {
		refetch_answer(rf, reason != NULL ? reason : "no answer");
		goto out;
	}
	if (!ans.ok) {
		refetch_answer(rf, ans.error);
		goto out;
	}
	refetch_answer(rf, "keys fetched");
	fetched = true;
out:
	proto_answer_clear(&ans);
	proto_message_free(msg);
	return fetched;
}

int jwt_verify_refetch(const struct config *cfg, struct keyset **ks, struct keyset_notes *notes,
		       const char *token, const char *user, int64_t now,
		       struct jwt_verified *out, struct jwt_refetch *rf, struct verdict *v)
{
	struct keyset *fresh = NULL;
	struct verdict again;
	int rc;

	memset(rf, 0, sizeof(*rf));
	rc = jwt_verify_full(cfg, *ks, token, user, now, out, v);
	if (rc == 0 || v->reason != keyset_reason_unknown_kid || cfg->jwks_cache == NULL ||
	    cfg->socket_path == NULL || !refetch_ask(cfg, rf))
		goto out;
	/* the daemon wrote new keys: the first refusal stands unless they verify the token */
	verdict_init(&again);
	if (jwt_keyset_load(cfg, &fresh, notes, &again) != 0) {
		*v = again;
		goto out;
	}
	keyset_free(*ks);
	*ks = fresh;
	rf->fetched = true;
	verdict_init(v);
	rc = jwt_verify_full(cfg, *ks, token, user, now, out, v);
out:
	return rc;
}

int jwt_verify(const struct config *cfg, struct keyset *ks, const char *token,
	       const char *user, int64_t now, json_t **claims_out, struct verdict *v)
{
	struct jwt_verified verified;
	int rc = jwt_verify_full(cfg, ks, token, user, now, &verified, v);

	if (claims_out != NULL) {
		*claims_out = verified.claims;
		verified.claims = NULL;
	}
	jwt_verified_clear(&verified);
	return rc;
}

int jwt_recheck(const struct config *cfg, const struct jwt_verified *verified,
		const char *user, int64_t now, struct verdict *v)
{
	if (verified == NULL || verified->header == NULL || verified->claims == NULL)
		return verdict_set(v, VERDICT_REJECT, "no verified token"), -1;
	return claims_check(cfg, verified->header, verified->claims, user, now, v);
}

void jwt_verified_clear(struct jwt_verified *verified)
{
	if (verified == NULL)
		return;
	json_decref(verified->header);
	json_decref(verified->claims);
	verified->header = NULL;
	verified->claims = NULL;
}

char *jwt_mint(const struct jwa_key *key, const char *kid, const json_t *claims)
{
	json_t *header = json_pack("{s:s, s:s}", "alg", jwa_alg_name(key->alg), "typ", "JWT");
	char *token = NULL;

	if (header == NULL)
		goto out;
	if (kid != NULL && json_object_set_new(header, "kid", json_string(kid)) != 0)
		goto out;
	token = jws_sign(key, header, claims);
out:
	json_decref(header);
	return token;
}
