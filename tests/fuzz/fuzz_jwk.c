/*
 * libFuzzer target: the input is a JWK or JWKS document. It is added to a key set (secret
 * keys allowed; RSA keys without alg pinned to one of the six RSA algorithms, chosen by the
 * input's length), every entry is selected (which converts its key material), and every
 * algorithm is asked for without a kid. The notes must be bounded and printable, and adding
 * the same document again (another file publishing the same keys) must change nothing.
 * Each JWK is also converted as a private key and back to a public JWK.
 * Seeds: tests/fuzz/corpus/fuzz_jwk/ (with the provider corpus of tests/vectors/providers).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwa.h"
#include "keys.h"
#include "verdict.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static void fuzz_private(const json_t *jwk)
{
	struct jwa_key key;
	struct verdict v;
	json_t *pub;

	verdict_init(&v);
	if (jwk_to_key(jwk, true, &key, &v) == 0) {
		if (jwa_key_check(&key) != NULL)
			abort();
		pub = jwk_from_key(&key, "k");
		json_decref(pub);
	} else if (key.pkey != NULL || key.secret != NULL || v.code != VERDICT_UNAVAILABLE) {
		abort(); /* a refusal leaves nothing behind */
	}
	jwa_key_clear(&key);
}

/* Notes: at most KEYSET_NOTES_MAX lines, each NUL-terminated printable ASCII. */
static void check_notes(const struct keyset_notes *notes)
{
	size_t i, j;

	if (notes->count > KEYSET_NOTES_MAX)
		abort();
	for (i = 0; i < notes->count; i++) {
		if (memchr(notes->line[i], '\0', KEYSET_NOTE_LEN) == NULL)
			abort();
		for (j = 0; notes->line[i][j] != '\0'; j++)
			if ((unsigned char)notes->line[i][j] < 0x20 ||
			    (unsigned char)notes->line[i][j] >= 0x7f)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum jwa_alg rsa_algs[] = { JWA_RS256, JWA_RS384, JWA_RS512,
						 JWA_PS256, JWA_PS384, JWA_PS512 };
	struct keyset *ks = keyset_new();
	const struct jwa_key *key;
	struct verdict v;
	json_t *doc, *jwk;
	size_t i, count;
	int alg, rc, again;

	if (ks == NULL)
		return 0;
	ks->rsa_alg = rsa_algs[size % (sizeof(rsa_algs) / sizeof(rsa_algs[0]))];
	verdict_init(&v);
	rc = keyset_add_jwks_json(ks, (const char *)data, size, true, &v);
	/* a refusal says "unavailable" (a broken key file), with a reason, and keeps nothing */
	if ((rc != 0 && (v.code != VERDICT_UNAVAILABLE || v.reason == NULL || ks->count != 0)) ||
	    (rc == 0 && ks->count == 0) || ks->count > KEYSET_MAX_KEYS)
		abort();
	check_notes(&ks->notes);
	/* every entry is pinned to a real algorithm */
	for (i = 0; i < ks->count; i++)
		if (jwa_alg_name(ks->entries[i].alg) == NULL)
			abort();
	/* the same keys again, as from a second file: one entry each, the same outcome */
	count = ks->count;
	verdict_init(&v);
	again = keyset_add_jwks_json(ks, (const char *)data, size, true, &v);
	if (again != rc || ks->count != count)
		abort();
	check_notes(&ks->notes);
	for (i = 0; i < ks->count; i++) {
		verdict_init(&v);
		rc = keyset_select(ks, ks->entries[i].alg, ks->entries[i].kid, &key, &v);
		if (rc == 0 && (key == NULL || key->alg != ks->entries[i].alg ||
				jwa_key_check(key) != NULL))
			abort();
		if (rc != 0 && (key != NULL || v.code == VERDICT_OK))
			abort();
		/* selected twice: the loaded key is reused */
		verdict_init(&v);
		(void)keyset_select(ks, ks->entries[i].alg, ks->entries[i].kid, &key, &v);
	}
	for (alg = JWA_HS256; alg <= JWA_EDDSA; alg++) {
		verdict_init(&v);
		rc = keyset_select(ks, (enum jwa_alg)alg, NULL, &key, &v);
		if (rc == 0 && (key == NULL || key->alg != (enum jwa_alg)alg))
			abort();
		verdict_init(&v);
		(void)keyset_select(ks, (enum jwa_alg)alg, "no-such-kid", &key, &v);
	}
	keyset_free(ks);

	doc = json_loadb((const char *)data, size, 0, NULL);
	if (json_is_object(doc)) {
		if (json_is_array(json_object_get(doc, "keys"))) {
			json_array_foreach(json_object_get(doc, "keys"), i, jwk)
				fuzz_private(jwk);
		} else {
			fuzz_private(doc);
		}
	}
	json_decref(doc);
	return 0;
}
