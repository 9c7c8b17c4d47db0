/* Strict base64url: the only accepted form is RFC 4648 §5 without padding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "b64url.h"

static int decode(const char *in, unsigned char *out, size_t *out_len)
{
	return b64url_decode(in, strlen(in), out, out_len);
}

static void test_rfc4648_vectors(void **state)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const encoded[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
					       "Zm9vYmFy" };
	unsigned char out[16];
	char enc[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), enc);
		assert_string_equal(enc, encoded[i]);
		assert_int_equal(b64url_encoded_len(strlen(plain[i])), strlen(encoded[i]));
		assert_int_equal(decode(encoded[i], out, &len), 0);
		assert_int_equal(len, strlen(plain[i]));
		assert_memory_equal(out, plain[i], len);
	}
}

static void test_url_alphabet(void **state)
{
	const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
	unsigned char out[8];
	char enc[8];
	size_t len;

	(void)state;
	b64url_encode(bytes, sizeof(bytes), enc);
	assert_string_equal(enc, "-_-_");
	assert_int_equal(decode("-_-_", out, &len), 0);
	assert_memory_equal(out, bytes, sizeof(bytes));
}

static void test_rejects_non_strict(void **state)
{
	static const char *const bad[] = {
		"Zg==",     /* padding */
		"Zg=",      /* padding */
		"+/+/",     /* standard alphabet */
		"Zm9v\n",   /* whitespace */
		"Zm 9v",    /* whitespace */
		"Z",        /* length 1 mod 4 */
		"Zm9vY",    /* length 1 mod 4 */
		"Zh",       /* non-zero spare bits (0x66 would be Zg) */
		"Zm9",      /* non-zero spare bits (foo is Zm8) */
		"Zm.v",     /* dot */
		"\xc3\xa9xx", /* non-ASCII */
	};
	unsigned char out[16];
	size_t i, len = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(decode(bad[i], out, &len), -1);
		assert_int_equal(len, 0);
	}
}

static void test_embedded_nul_rejected(void **state)
{
	unsigned char out[8];
	size_t len;

	(void)state;
	assert_int_equal(b64url_decode("Zm\0v", 4, out, &len), -1);
}

static void test_round_trip_all_lengths(void **state)
{
	unsigned char in[300], out[300];
	char *enc;
	size_t n, len;

	(void)state;
	for (n = 0; n < sizeof(in); n++)
		in[n] = (unsigned char)(n * 37 + 11);
	for (n = 0; n < sizeof(in); n++) {
		enc = b64url_encode_alloc(in, n);
		assert_non_null(enc);
		assert_true(b64url_decoded_max(strlen(enc)) >= n);
		assert_int_equal(decode(enc, out, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(in, out, n);
		free(enc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_url_alphabet),
		cmocka_unit_test(test_rejects_non_strict),
		cmocka_unit_test(test_embedded_nul_rejected),
		cmocka_unit_test(test_round_trip_all_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
