#include "isotime.h"

#include <stdio.h>
#include <time.h>

void iso_time(int64_t t, char buf[ISO_TIME_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, ISO_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, ISO_TIME_LEN, "@%lld", (long long)t);
}
