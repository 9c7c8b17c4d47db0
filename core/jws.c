#include "jws.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include "b64url.h"
#include "secmem.h"

static int b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int jws_looks_like(const char *token, size_t len)
{
	size_t i, dots = 0, seg_len = 0;

	if (len < 3 + 2 || strncmp(token, "eyJ", 3) != 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (token[i] == '.') {
			if (seg_len == 0 && dots == 0)
				return 0;
			dots++;
			seg_len = 0;
		} else if (b64url_char((unsigned char)token[i])) {
			seg_len++;
		} else {
			return 0;
		}
	}
	return dots == 2 && seg_len > 0;
}

/* Header members that make a token choose its own key or change how it is processed. */
static const char *const jws_forbidden_headers[] = { "crit", "jku", "x5u", "jwk", "x5c", "b64" };

static int jws_header_check(const json_t *header, enum jwa_alg *alg, const char **kid,
			    struct verdict *v)
{
	const json_t *alg_json = json_object_get(header, "alg");
	const json_t *kid_json = json_object_get(header, "kid");
	const json_t *cty = json_object_get(header, "cty");
	size_t i;
	int rc = -1;

	*alg = JWA_INVALID;
	*kid = NULL;
	if (kid_json != NULL) {
		if (!json_is_string(kid_json) || json_string_length(kid_json) == 0 ||
		    json_string_length(kid_json) > KEY_KID_MAX) {
			verdict_set(v, VERDICT_REJECT, "header kid is not a short string");
			goto out;
		}
		*kid = json_string_value(kid_json);
		verdict_label_copy(v->kid, sizeof(v->kid), *kid);
	}
	if (!json_is_string(alg_json)) {
		verdict_set(v, VERDICT_REJECT, "header has no alg");
		goto out;
	}
	if (strcasecmp(json_string_value(alg_json), "none") == 0) {
		verdict_set(v, VERDICT_REJECT, "alg none is never accepted");
		goto out;
	}
	*alg = jwa_alg_from_name(json_string_value(alg_json));
	if (*alg == JWA_INVALID) {
		verdict_set(v, VERDICT_REJECT, "unsupported alg");
		goto out;
	}
	for (i = 0; i < sizeof(jws_forbidden_headers) / sizeof(jws_forbidden_headers[0]); i++) {
		if (json_object_get(header, jws_forbidden_headers[i]) != NULL) {
			verdict_set(v, VERDICT_REJECT, "header has a forbidden member "
				    "(crit, jku, x5u, jwk, x5c or b64)");
			goto out;
		}
	}
	if (cty != NULL && (!json_is_string(cty) || strcasecmp(json_string_value(cty), "JWT") == 0)) {
		verdict_set(v, VERDICT_REJECT, "nested JWTs (cty JWT) are not accepted");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* Parse and check the protected header and pick its key, or take all three from the
 * key set's cache when the header text is the one seen last. */
static int jws_header_resolve(struct keyset *ks, const char *text, size_t len,
			      json_t **header_out, enum jwa_alg *alg, const struct jwa_key **key,
			      struct verdict *v)
{
	struct keyset_header_cache *cache = &ks->header_cache;
	unsigned char *decoded = NULL;
	size_t decoded_len = 0;
	json_t *header = NULL;
	const char *kid = NULL;
	char *copy = NULL;
	int rc = -1;

	*header_out = NULL;
	if (cache->header != NULL && cache->len == len && memcmp(cache->text, text, len) == 0) {
		*header_out = json_incref(cache->header);
		*alg = cache->alg;
		*key = cache->key;
		memcpy(v->kid, cache->kid_label, sizeof(v->kid));
		rc = 0;
		goto out;
	}
	if (b64url_decode_alloc(text, len, &decoded, &decoded_len) != 0) {
		verdict_set(v, VERDICT_REJECT, "header is not strict base64url");
		goto out;
	}
	header = json_loadb((const char *)decoded, decoded_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(header)) {
		verdict_set(v, VERDICT_REJECT, "header is not a JSON object");
		goto out;
	}
	if (jws_header_check(header, alg, &kid, v) != 0 ||
	    keyset_select(ks, *alg, kid, key, v) != 0)
		goto out;
	copy = malloc(len);
	if (copy != NULL) {
		memcpy(copy, text, len);
		free(cache->text);
		json_decref(cache->header);
		cache->text = copy;
		cache->len = len;
		cache->header = json_incref(header);
		cache->alg = *alg;
		cache->key = *key;
		memcpy(cache->kid_label, v->kid, sizeof(cache->kid_label));
	}
	*header_out = header;
	header = NULL;
	rc = 0;
out:
	json_decref(header);
	free(decoded);
	return rc;
}

int jws_verify(const char *token, size_t len, size_t max_size, struct keyset *ks,
	       struct jws_result *out, struct verdict *v)
{
	const char *dot1, *dot2;
	unsigned char *sig = NULL, *payload = NULL;
	size_t sig_len = 0, payload_len = 0;
	json_t *header = NULL;
	const struct jwa_key *key = NULL;
	enum jwa_alg alg = JWA_INVALID;
	int ok, rc = -1;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > max_size) {
		verdict_set(v, VERDICT_REJECT, len == 0 ? "empty token" : "token is too large");
		goto out;
	}
	if (memchr(token, '\0', len) != NULL) {
		verdict_set(v, VERDICT_REJECT, "token is not a compact JWS");
		goto out;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL ||
	    dot1 == token || dot2 + 1 == token + len) {
		verdict_set(v, VERDICT_REJECT, "token is not a compact JWS (three segments)");
		goto out;
	}
	if (jws_header_resolve(ks, token, (size_t)(dot1 - token), &header, &alg, &key, v) != 0)
		goto out;
	if (b64url_decode_alloc(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig, &sig_len) != 0) {
		verdict_set(v, VERDICT_REJECT, "signature is not strict base64url");
		goto out;
	}
	if (b64url_decode_alloc(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &payload_len) != 0) {
		verdict_set(v, VERDICT_REJECT, "payload is not strict base64url");
		goto out;
	}
	/* The signing input is the received bytes, exactly as sent. */
	ok = jwa_verify(key, (const unsigned char *)token, (size_t)(dot2 - token), sig, sig_len);
	if (ok < 0) {
		verdict_set(v, VERDICT_UNAVAILABLE, "signature check failed internally");
		goto out;
	}
	if (ok != 1) {
		verdict_set(v, VERDICT_REJECT, "bad signature");
		goto out;
	}
	verdict_ok(v);
	out->header = header;
	out->payload = payload;
	out->payload_len = payload_len;
	out->alg = alg;
	header = NULL;
	payload = NULL;
	rc = 0;
out:
	json_decref(header);
	free(sig);
	secmem_free(payload, payload_len);
	return rc;
}

void jws_result_clear(struct jws_result *r)
{
	if (r == NULL)
		return;
	json_decref(r->header);
	secmem_free(r->payload, r->payload_len);
	memset(r, 0, sizeof(*r));
}

char *jws_sign(const struct jwa_key *key, const json_t *header, const json_t *payload)
{
	char *header_json = json_dumps(header, JSON_COMPACT);
	char *payload_json = json_dumps(payload, JSON_COMPACT);
	char *h = NULL, *p = NULL, *s = NULL, *input = NULL, *token = NULL;
	unsigned char *sig = NULL;
	size_t sig_len = 0, input_len;

	if (header_json == NULL || payload_json == NULL)
		goto out;
	h = b64url_encode_alloc((const unsigned char *)header_json, strlen(header_json));
	p = b64url_encode_alloc((const unsigned char *)payload_json, strlen(payload_json));
	if (h == NULL || p == NULL)
		goto out;
	input_len = strlen(h) + 1 + strlen(p);
	input = malloc(input_len + 1);
	if (input == NULL)
		goto out;
	snprintf(input, input_len + 1, "%s.%s", h, p);
	if (jwa_sign(key, (const unsigned char *)input, input_len, &sig, &sig_len) != 0)
		goto out;
	s = b64url_encode_alloc(sig, sig_len);
	if (s == NULL)
		goto out;
	token = malloc(input_len + 1 + strlen(s) + 1);
	if (token != NULL)
		snprintf(token, input_len + 1 + strlen(s) + 1, "%s.%s", input, s);
out:
	free(header_json);
	secmem_free_string(payload_json);
	free(h);
	secmem_free_string(p);
	secmem_free_string(input);
	free(s);
	free(sig);
	return token;
}
