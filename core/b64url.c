#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for alphabet characters, 0xff for everything else. */
static const uint8_t b64url_value[256] = {
#define X 0xff
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

size_t b64url_decoded_max(size_t len)
{
	return len / 4 * 3 + 2;
}

int b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
	size_t i = 0, o = 0;
	uint32_t acc;
	int rc = -1;

	*out_len = 0;
	if (len % 4 == 1)
		goto out;
	for (; i + 4 <= len; i += 4) {
		uint8_t a = b64url_value[(unsigned char)in[i]];
		uint8_t b = b64url_value[(unsigned char)in[i + 1]];
		uint8_t c = b64url_value[(unsigned char)in[i + 2]];
		uint8_t d = b64url_value[(unsigned char)in[i + 3]];
		if ((a | b | c | d) & 0xc0)
			goto out;
		acc = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
		out[o++] = (unsigned char)(acc >> 16);
		out[o++] = (unsigned char)(acc >> 8);
		out[o++] = (unsigned char)acc;
	}
	if (len - i == 2) {
		uint8_t a = b64url_value[(unsigned char)in[i]];
		uint8_t b = b64url_value[(unsigned char)in[i + 1]];
		if (((a | b) & 0xc0) || (b & 0x0f) != 0)
			goto out;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
	} else if (len - i == 3) {
		uint8_t a = b64url_value[(unsigned char)in[i]];
		uint8_t b = b64url_value[(unsigned char)in[i + 1]];
		uint8_t c = b64url_value[(unsigned char)in[i + 2]];
		if (((a | b | c) & 0xc0) || (c & 0x03) != 0)
			goto out;
		out[o++] = (unsigned char)(a << 2 | b >> 4);
		out[o++] = (unsigned char)(b << 4 | c >> 2);
	}
	*out_len = o;
	rc = 0;
out:
	return rc;
}

int b64url_decode_alloc(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
	unsigned char *buf = malloc(b64url_decoded_max(len) + 1);
	int rc = -1;

	*out = NULL;
	*out_len = 0;
	if (buf == NULL)
		goto out;
	if (b64url_decode(in, len, buf, out_len) != 0) {
		free(buf);
		goto out;
	}
	buf[*out_len] = '\0';
	*out = buf;
	rc = 0;
out:
	return rc;
}

size_t b64url_encoded_len(size_t len)
{
	return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

void b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t acc = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alphabet[acc >> 18];
		out[o++] = b64url_alphabet[(acc >> 12) & 63];
		out[o++] = b64url_alphabet[(acc >> 6) & 63];
		out[o++] = b64url_alphabet[acc & 63];
	}
	if (len - i == 1) {
		out[o++] = b64url_alphabet[in[i] >> 2];
		out[o++] = b64url_alphabet[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t acc = (uint32_t)in[i] << 8 | in[i + 1];
		out[o++] = b64url_alphabet[acc >> 10];
		out[o++] = b64url_alphabet[(acc >> 4) & 63];
		out[o++] = b64url_alphabet[(acc & 15) << 2];
	}
	out[o] = '\0';
}

char *b64url_encode_alloc(const unsigned char *in, size_t len)
{
	char *out = malloc(b64url_encoded_len(len) + 1);

	if (out != NULL)
		b64url_encode(in, len, out);
	return out;
}
