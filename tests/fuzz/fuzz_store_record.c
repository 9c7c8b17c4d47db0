/*
 * libFuzzer target: the session store's record codec. The input is the text of a session
 * record file, parsed by store_session_parse. Whatever parses must format (with
 * store_session_format) into a record that parses again to the same fields, and
 * formatting that gives the same text (one spelling per session). A mismatch abort()s.
 * Seeds: tests/fuzz/corpus/fuzz_store_record/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static int same_session(const struct store_session *a, const struct store_session *b)
{
	return strcmp(a->digest, b->digest) == 0 && strcmp(a->user, b->user) == 0 &&
	       strcmp(a->service, b->service) == 0 && strcmp(a->tty, b->tty) == 0 &&
	       strcmp(a->rhost, b->rhost) == 0 && a->uid == b->uid &&
	       a->leader_pid == b->leader_pid && a->created == b->created &&
	       a->expires == b->expires && a->idle_timeout == b->idle_timeout &&
	       a->last_seen == b->last_seen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_session first, second;
	char *text = NULL, *again = NULL;
	size_t i;

	if (store_session_parse((const char *)data, size, &first) != 0)
		return 0;
	/* what parsed is sane */
	if (first.user[0] == '\0' || first.digest[0] != '\0' || first.uid == (uid_t)-1 ||
	    first.leader_pid < 0 || first.created < 0 || first.expires < 0 ||
	    first.idle_timeout < 0 || first.last_seen < 0)
		abort();
	text = store_session_format(&first);
	if (text == NULL)
		return 0; /* out of memory */
	for (i = 0; text[i] != '\0'; i++) {
		if (((unsigned char)text[i] < 0x20 && text[i] != '\n') || text[i] == 0x7f)
			abort();
	}
	if (store_session_parse(text, strlen(text), &second) != 0 ||
	    !same_session(&first, &second))
		abort();
	again = store_session_format(&second);
	if (again != NULL && strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
	return 0;
}
