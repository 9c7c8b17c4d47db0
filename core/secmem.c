#include "secmem.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

void secmem_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void secmem_free_string(char *s)
{
	if (s == NULL)
		return;
	secmem_free(s, strlen(s));
}

int secmem_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
