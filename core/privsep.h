/* Placeholder until the privsep primitive lands (see the hard-b branch). */
#ifndef PAM_JWT_PRIVSEP_H
#define PAM_JWT_PRIVSEP_H

#include <stdbool.h>
#include <stddef.h>

#include "verdict.h"

bool privsep_needed(void);
int privsep_run(int (*fn)(void *ctx, struct verdict *v), void *ctx, size_t ctx_size,
		struct verdict *v);

#endif
