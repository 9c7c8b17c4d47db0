/*
 * libFuzzer target: strict base64url. Whatever decodes must encode back to exactly the
 * input (strictness means one spelling per byte string), and any bytes must survive
 * encode-then-decode. A mismatch abort()s. Seeds: tests/fuzz/corpus/fuzz_b64url/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *dec = NULL, *back = NULL;
	char *enc = NULL;
	size_t dec_len = 0, back_len = 0;

	/* input as text: decode; if accepted, re-encode to the same text */
	dec = malloc(b64url_decoded_max(size));
	if (dec == NULL)
		return 0;
	if (b64url_decode((const char *)data, size, dec, &dec_len) == 0) {
		if (dec_len > b64url_decoded_max(size) || b64url_encoded_len(dec_len) != size)
			abort();
		enc = b64url_encode_alloc(dec, dec_len);
		if (enc == NULL || strlen(enc) != size || memcmp(enc, data, size) != 0)
			abort();
		free(enc);
		enc = NULL;
		/* the allocating decoder agrees */
		if (b64url_decode_alloc((const char *)data, size, &back, &back_len) != 0 ||
		    back_len != dec_len || memcmp(back, dec, dec_len) != 0 || back[back_len] != '\0')
			abort();
		free(back);
		back = NULL;
	} else if (b64url_decode_alloc((const char *)data, size, &back, &back_len) == 0) {
		abort(); /* the two decoders disagree */
	}
	free(dec);

	/* input as bytes: encode, then decode back to the same bytes */
	enc = b64url_encode_alloc(data, size);
	if (enc == NULL)
		return 0;
	if (strlen(enc) != b64url_encoded_len(size) ||
	    b64url_decode_alloc(enc, strlen(enc), &back, &back_len) != 0 || back_len != size ||
	    memcmp(back, data, size) != 0)
		abort();
	free(back);
	free(enc);
	return 0;
}
