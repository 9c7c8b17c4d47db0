/* Strict base64url (RFC 4648 §5) without padding, as JWS requires. */
#ifndef PAM_JWT_B64URL_H
#define PAM_JWT_B64URL_H

#include <stddef.h>

/* Largest decoded size of `len` input characters. */
size_t b64url_decoded_max(size_t len);
/* Decode into out (at least b64url_decoded_max(len) bytes). Refuses padding, '+', '/',
 * whitespace, a length of 1 mod 4 and non-zero spare bits. 0 on success, -1 otherwise. */
int b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);
/* Allocating variant; *out is NUL-terminated for convenience (not counted). */
int b64url_decode_alloc(const char *in, size_t len, unsigned char **out, size_t *out_len);
size_t b64url_encoded_len(size_t len);
/* Encode; out must hold b64url_encoded_len(len) + 1 bytes; NUL-terminates. */
void b64url_encode(const unsigned char *in, size_t len, char *out);
char *b64url_encode_alloc(const unsigned char *in, size_t len);

#endif
