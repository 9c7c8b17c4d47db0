/*
 * libFuzzer target: the Redis store URL and the Sentinel list (redis_sentinel), each fed
 * the same input. Any accepted URL yields a usable target (a host and a port in range for
 * TCP/TLS, an absolute socket path for UNIX, a user, on any transport, of letters,
 * digits, '.', '_' and '-' only); any refused one gives a reason and leaves the target
 * zeroed. An accepted Sentinel list has 1..8 entries, each a non-empty host and a port in
 * range; a refused one gives a reason and no entry. A violation abort()s. Seeds:
 * tests/fuzz/corpus/fuzz_redis_url/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int zeroed(const struct redis_target *t)
{
	static const struct redis_target zero;

	return memcmp(t, &zero, sizeof(zero)) == 0;
}

static void check_sentinels(const char *list)
{
	struct redis_sentinels s;
	const char *reason = NULL;
	size_t i;

	memset(&s, 0xa5, sizeof(s)); /* whatever the parser leaves must be set by it */
	if (redis_sentinels_parse(list, &s, &reason) != 0) {
		if (reason == NULL || s.n != 0)
			abort();
		return;
	}
	if (reason != NULL || s.n == 0 || s.n > REDIS_SENTINEL_MAX)
		abort();
	for (i = 0; i < s.n; i++) {
		if (memchr(s.at[i].host, '\0', sizeof(s.at[i].host)) == NULL ||
		    s.at[i].host[0] == '\0' || s.at[i].port == 0 || s.at[i].port > 65535 ||
		    strchr(s.at[i].host, ',') != NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct redis_target t;
	const char *reason = NULL;
	char *url = malloc(size + 1);

	if (url == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	if (redis_url_parse(url, &t, &reason) != 0) {
		if (reason == NULL || !zeroed(&t))
			abort();
	} else if (reason != NULL || t.db > INT32_MAX ||
		   memchr(t.host, '\0', sizeof(t.host)) == NULL ||
		   memchr(t.path, '\0', sizeof(t.path)) == NULL ||
		   memchr(t.user, '\0', sizeof(t.user)) == NULL ||
		   strspn(t.user, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			   strlen(t.user)) {
		abort();
	} else if (t.transport == REDIS_UNIX) {
		if (t.path[0] != '/' || t.host[0] != '\0' || t.port != 0)
			abort();
	} else if (t.transport == REDIS_TCP || t.transport == REDIS_TLS) {
		if (t.host[0] == '\0' || t.port == 0 || t.port > 65535 || t.path[0] != '\0')
			abort();
	} else {
		abort();
	}
	check_sentinels(url);
	free(url);
	return 0;
}
