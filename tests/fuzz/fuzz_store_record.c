/*
 * libFuzzer target: the session store's record codecs. The input is the text of a record
 * file, parsed both as a session record (store_session_parse) and as a refresh token
 * family record (store_refresh_parse). Whatever parses must be sane, format
 * (store_session_format / store_refresh_format) into a record that parses again to the
 * same fields, formatting that gives the same text, and the formatted text must hold
 * exactly the input's lines (the parser is strict: one spelling per value, only the
 * order of the keys is free).
 * A mismatch abort()s. Seeds: tests/fuzz/corpus/fuzz_store_record/.
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
	       a->last_seen == b->last_seen && a->leader_start == b->leader_start &&
	       strcmp(a->parent, b->parent) == 0 && strcmp(a->origin_jti, b->origin_jti) == 0 &&
	       a->tokens == b->tokens;
}

static int same_refresh(const struct store_refresh *a, const struct store_refresh *b)
{
	return strcmp(a->digest, b->digest) == 0 && strcmp(a->session, b->session) == 0 &&
	       strcmp(a->user, b->user) == 0 && a->uid == b->uid && a->created == b->created &&
	       a->expires == b->expires && strcmp(a->current, b->current) == 0 &&
	       a->rotations == b->rotations && a->window_start == b->window_start &&
	       a->window_count == b->window_count;
}

static int is_digest_or_empty(const char *s, int may_be_empty)
{
	size_t i, n = strnlen(s, STORE_DIGEST_HEX_LEN + 1);

	if (n == 0)
		return may_be_empty;
	if (n != STORE_DIGEST_HEX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* Formatted text: printable but for the newlines. */
static void check_clean(const char *text)
{
	size_t i;

	for (i = 0; text[i] != '\0'; i++) {
		if (((unsigned char)text[i] < 0x20 && text[i] != '\n') || text[i] == 0x7f)
			abort();
	}
}

struct line {
	const char *p;
	size_t n;
};

static int line_cmp(const void *a, const void *b)
{
	const struct line *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);

	return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

/* Split text into its lines, sorted. Returns the count, or (size_t)-1 out of memory. */
static size_t sorted_lines(const char *text, size_t len, struct line **out)
{
	const char *p = text, *end = text + len, *nl;
	struct line *lines;
	size_t n = 0, cap = 1, i;

	for (i = 0; i < len; i++)
		cap += text[i] == '\n';
	lines = calloc(cap, sizeof(*lines));
	if (lines == NULL)
		return (size_t)-1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lines[n].p = p;
		lines[n].n = (size_t)(nl - p);
		n++;
		p = nl + 1;
	}
	qsort(lines, n, sizeof(*lines), line_cmp);
	*out = lines;
	return n;
}

/* The input and its reformatted text hold the same lines (only key order is free). */
static void check_same_lines(const char *input, size_t len, const char *text)
{
	struct line *a = NULL, *b = NULL;
	size_t na = sorted_lines(input, len, &a), nb = sorted_lines(text, strlen(text), &b), i;

	if (na != (size_t)-1 && nb != (size_t)-1) {
		if (na != nb)
			abort();
		for (i = 0; i < na; i++) {
			if (line_cmp(&a[i], &b[i]) != 0)
				abort();
		}
	}
	free(a);
	free(b);
}

static void fuzz_session(const char *data, size_t size)
{
	struct store_session first, second;
	char *text = NULL, *again = NULL;

	if (store_session_parse(data, size, &first) != 0)
		return;
	/* what parsed is sane */
	if (first.user[0] == '\0' || first.digest[0] != '\0' || first.uid == (uid_t)-1 ||
	    first.leader_pid < 0 || first.created < 0 || first.expires < 0 ||
	    first.idle_timeout < 0 || first.last_seen < 0 || first.leader_start < 0 ||
	    !is_digest_or_empty(first.parent, 1) || !is_digest_or_empty(first.origin_jti, 1))
		abort();
	text = store_session_format(&first);
	if (text == NULL)
		return; /* out of memory */
	check_clean(text);
	if (store_session_parse(text, strlen(text), &second) != 0 ||
	    !same_session(&first, &second))
		abort();
	check_same_lines(data, size, text);
	again = store_session_format(&second);
	if (again != NULL && strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
}

static void fuzz_refresh(const char *data, size_t size)
{
	struct store_refresh first, second;
	char *text = NULL, *again = NULL;

	if (store_refresh_parse(data, size, &first) != 0)
		return;
	/* what parsed is sane: a session digest, the current token's digest, counts and
	 * times that are not negative */
	if (first.user[0] == '\0' || first.digest[0] != '\0' || first.uid == (uid_t)-1 ||
	    first.created < 0 || first.expires < 0 || !is_digest_or_empty(first.session, 0) ||
	    !is_digest_or_empty(first.current, 0) || first.rotations < 0 ||
	    first.window_start < 0 || first.window_count < 0)
		abort();
	text = store_refresh_format(&first);
	if (text == NULL)
		return;
	check_clean(text);
	if (store_refresh_parse(text, strlen(text), &second) != 0 ||
	    !same_refresh(&first, &second))
		abort();
	check_same_lines(data, size, text);
	again = store_refresh_format(&second);
	if (again != NULL && strcmp(text, again) != 0)
		abort();
	free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_session((const char *)data, size);
	fuzz_refresh((const char *)data, size);
	return 0;
}
