/* Injectable wall clock: production reads time(2); tests install their own. */
#ifndef PAM_JWT_CLOCK_H
#define PAM_JWT_CLOCK_H

#include <stdint.h>

typedef int64_t (*clock_now_fn)(void *ctx);

int64_t clock_now(void);
/* NULL restores the system clock. Not thread-safe; for tests and tools. */
void clock_set(clock_now_fn fn, void *ctx);

#endif
