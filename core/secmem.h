/* Small helpers for secrets: wipe before free, constant-time compare. */
#ifndef PAM_JWT_SECMEM_H
#define PAM_JWT_SECMEM_H

#include <stddef.h>

void secmem_free(void *p, size_t len);        /* wipes len bytes, then frees; NULL ok */
void secmem_free_string(char *s);             /* wipes strlen(s) bytes, then frees; NULL ok */
int secmem_equal(const void *a, const void *b, size_t len); /* 1 if equal, constant time */

#endif
