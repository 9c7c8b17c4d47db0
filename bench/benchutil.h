/* Helpers shared by the benchmarks: bounded integer settings from the environment,
 * pinning to one CPU so that the numbers are single-core numbers, and numbers printed with
 * thousands separators. */
#ifndef PAM_JWT_BENCHUTIL_H
#define PAM_JWT_BENCHUTIL_H

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static inline long env_long(const char *name, long def, long lo, long hi)
{
	const char *s = getenv(name);
	char *end = NULL;
	long n;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi) {
		fprintf(stderr, "%s: %s must be %ld..%ld\n", program_invocation_short_name, name,
			lo, hi);
		exit(2);
	}
	return n;
}

/* Pin to $BENCH_CPU, or to the last CPU we may run on; returns it, or -1. */
static inline int pin_cpu(void)
{
	cpu_set_t set;
	long want = env_long("BENCH_CPU", -1, -1, CPU_SETSIZE - 1);
	int cpu = -1, i;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -1;
	if (want >= 0) {
		cpu = (int)want;
	} else {
		for (i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				cpu = i;
	}
	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
}

/* x rounded, with thousands separators: 1,234,567 */
static inline void fmt_count(char *buf, size_t size, double x)
{
	long long n = (long long)(x + 0.5);

	if (n >= 1000000)
		snprintf(buf, size, "%lld,%03lld,%03lld", n / 1000000, n / 1000 % 1000, n % 1000);
	else if (n >= 1000)
		snprintf(buf, size, "%lld,%03lld", n / 1000, n % 1000);
	else
		snprintf(buf, size, "%lld", n);
}

#endif
