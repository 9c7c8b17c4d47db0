/* Compact JWS (RFC 7515) parsing and verification with the RFC 8725 rules. */
#ifndef PAM_JWT_JWS_H
#define PAM_JWT_JWS_H

#include <stddef.h>
#include <jansson.h>
#include "keys.h"
#include "verdict.h"

#define JWS_DEFAULT_MAX_SIZE (16 * 1024)

struct jws_result {
	json_t *header;            /* the protected header */
	unsigned char *payload;    /* decoded payload, NUL-terminated */
	size_t payload_len;
	enum jwa_alg alg;
};

/* True if the string has the shape of a compact JWS: three non-empty base64url-charset
 * segments separated by two dots (no decoding). */
int jws_looks_like(const char *token, size_t len);

/* Verify a compact JWS against a key set. On VERDICT_OK fills out; otherwise out is empty.
 * v->kid is filled as soon as the header parsed. */
int jws_verify(const char *token, size_t len, size_t max_size, struct keyset *ks,
	       struct jws_result *out, struct verdict *v);
void jws_result_clear(struct jws_result *r);

/* Sign header and payload JSON into a compact JWS (malloc'd string). */
char *jws_sign(const struct jwa_key *key, const json_t *header, const json_t *payload);

#endif
