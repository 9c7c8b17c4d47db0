#include "clock.h"

#include <time.h>

static clock_now_fn clock_override;
static void *clock_override_ctx;

int64_t clock_now(void)
{
	if (clock_override != NULL)
		return clock_override(clock_override_ctx);
	return (int64_t)time(NULL);
}

void clock_set(clock_now_fn fn, void *ctx)
{
	clock_override = fn;
	clock_override_ctx = ctx;
}
