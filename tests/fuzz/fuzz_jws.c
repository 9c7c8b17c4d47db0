/*
 * libFuzzer target: the input is a compact JWS. It goes through jws_verify against a
 * fixed key set (HS256, ES256 and RS256 keys, built once from the JWKS below), and then
 * through the whole JWT pipeline (jwt_verify) under a lax and a strict config.
 *
 * The keys were made with `pam-jwtctl keygen` for this file only; the HS256 secret is
 * public here on purpose. Seeds: tests/fuzz/corpus/fuzz_jws/ (tokens minted with these
 * keys at iat 1700000000, which FUZZ_NOW sits inside).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jws.h"
#include "jwt.h"
#include "keys.h"
#include "verdict.h"

#define FUZZ_NOW ((int64_t)1700000600)

static const char fuzz_jwks[] =
	"{\"keys\": ["
	"{\"kty\": \"oct\", \"alg\": \"HS256\", \"use\": \"sig\", \"kid\": \"fz-hs256\","
	" \"k\": \"3heqq0UJ4ZhcE1xd8TW62qVpZ--lsxQVoLA1gheJtRE\"},"
	"{\"kty\": \"EC\", \"alg\": \"ES256\", \"use\": \"sig\", \"kid\": \"fz-es256\","
	" \"crv\": \"P-256\","
	" \"x\": \"GcD58e1PKklJAj34XBi_sLQls1agWT_QbFzjVtPZOx4\","
	" \"y\": \"iTSevwOiwzyWB0x6oYWsqctnwCaeCBeMHbIDMy79O1c\"},"
	"{\"kty\": \"RSA\", \"alg\": \"RS256\", \"use\": \"sig\", \"kid\": \"fz-rs256\","
	" \"n\": \"nsU1sYfoc7qnMBxHmqVVPcBugGldzOCLf1McldAM1OTkI8q0wyMwIyN82s51LLWlWLCVtGKTWpgn"
	"KxQ83nmaOsk13x8TdTTKwshAJ_cbuxgAy35zxE-7Oif9aPH66M-vFz8BARW8G_2DoMlbCw-D4odAsA6dK9x"
	"zfbp5onxtTqTqrZjLRT6TZ807zQOgvI6B8_V0hprfchsQdg0cUcUqrsM9Bel1WwvMgYjgAWSM3Xity5UAOac"
	"RyH-pgFmF7QwwF6y4amfZJZy4NQ4uu4IPpcPBWDYxHdA8VoqVgDkmiAJrn8IEd5c9qB-Hd29rnXUXbtujGz8"
	"prRAVcOc_QrI2ZQ\","
	" \"e\": \"AQAB\"}"
	"]}";

static struct keyset *fuzz_ks;
static struct config fuzz_lax;    /* defaults */
static struct config fuzz_strict; /* every claim rule switched on */

const char *__ubsan_default_options(void);
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const strict[][2] = {
		{ "issuer", "fz-iss" }, { "audience", "fz-aud" }, { "typ", "JWT" },
		{ "max_age", "1h" }, { "leeway", "30s" }, { "require_claim", "role:admin" },
		{ "max_token_size", "4096" },
	};
	struct verdict v;
	size_t i;

	(void)argc;
	(void)argv;
	verdict_init(&v);
	fuzz_ks = keyset_new();
	if (fuzz_ks == NULL ||
	    keyset_add_jwks_json(fuzz_ks, fuzz_jwks, strlen(fuzz_jwks), true, &v) != 0 ||
	    fuzz_ks->count != 3 || config_init(&fuzz_lax) != 0 || config_init(&fuzz_strict) != 0)
		abort();
	for (i = 0; i < sizeof(strict) / sizeof(strict[0]); i++)
		if (config_set(&fuzz_strict, strict[i][0], strict[i][1], &v) != 0)
			abort();
	return 0;
}

static void fuzz_check_verdict(int rc, const struct verdict *v)
{
	char text[320];

	/* 0 exactly when the verdict is OK; every refusal has a reason. */
	if ((rc == 0) != (v->code == VERDICT_OK) || (rc != 0 && v->reason == NULL))
		abort();
	verdict_describe(v, text, sizeof(text));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jws_result res;
	struct verdict v;
	json_t *claims = NULL;
	char *token;
	int rc;

	/* The JWS layer, on the exact bytes (no terminator to lean on). */
	verdict_init(&v);
	rc = jws_verify((const char *)data, size, JWS_DEFAULT_MAX_SIZE, fuzz_ks, &res, &v);
	fuzz_check_verdict(rc, &v);
	if (rc == 0 && (res.header == NULL || res.payload == NULL || res.alg == JWA_INVALID))
		abort();
	jws_result_clear(&res);
	(void)jws_looks_like((const char *)data, size);

	/* The whole pipeline wants a C string. */
	token = malloc(size + 1);
	if (token == NULL)
		return 0;
	memcpy(token, data, size);
	token[size] = '\0';
	verdict_init(&v);
	rc = jwt_verify(&fuzz_lax, fuzz_ks, token, NULL, FUZZ_NOW, &claims, &v);
	fuzz_check_verdict(rc, &v);
	if ((rc == 0) != (claims != NULL))
		abort();
	json_decref(claims);
	claims = NULL;
	verdict_init(&v);
	rc = jwt_verify(&fuzz_strict, fuzz_ks, token, "alice", FUZZ_NOW, &claims, &v);
	fuzz_check_verdict(rc, &v);
	json_decref(claims);
	free(token);
	return 0;
}
