#include "verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void verdict_init(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->code = VERDICT_REJECT;
	v->reason = "not verified";
}

int verdict_set(struct verdict *v, enum verdict_code code, const char *reason)
{
	v->code = code;
	v->reason = reason;
	v->detail[0] = '\0';
	memset(&v->where, 0, sizeof(v->where));
	return code;
}

int verdict_setf_seconds(struct verdict *v, enum verdict_code code, const char *reason,
			 const char *fmt, long long seconds)
{
	verdict_set(v, code, reason);
	/* fmt is always a literal from core with exactly one %lld */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(v->detail, sizeof(v->detail), fmt, seconds);
#pragma GCC diagnostic pop
	return code;
}

void verdict_ok(struct verdict *v)
{
	v->code = VERDICT_OK;
	v->reason = "accepted";
	v->detail[0] = '\0';
	memset(&v->where, 0, sizeof(v->where));
}

static int label_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("._:@+=/-", c) != NULL;
}

void verdict_label_copy(char *dst, size_t dst_size, const char *src)
{
	size_t i = 0;

	if (dst_size == 0)
		return;
	if (src != NULL) {
		for (; src[i] != '\0' && i + 1 < dst_size; i++)
			dst[i] = (char)(label_char_ok((unsigned char)src[i]) ? src[i] : '?');
	}
	dst[i] = '\0';
}

/* Copy configuration text (a path, an option name) as printable ASCII, truncated. */
static void text_copy(char *dst, size_t dst_size, const char *src)
{
	size_t i = 0;

	for (; src[i] != '\0' && i + 1 < dst_size; i++)
		dst[i] = (char)((unsigned char)src[i] >= 0x20 && (unsigned char)src[i] < 0x7f ?
					src[i] : '?');
	dst[i] = '\0';
}

void verdict_where_fill(struct verdict *v, const char *file, long line, const char *option,
			const char *path)
{
	struct verdict_where *w = &v->where;

	if (file != NULL && w->file[0] == '\0')
		text_copy(w->file, sizeof(w->file), file);
	if (line > 0 && w->line == 0)
		w->line = line;
	if (option != NULL && w->option[0] == '\0')
		text_copy(w->option, sizeof(w->option), option);
	if (path != NULL && w->path[0] == '\0')
		text_copy(w->path, sizeof(w->path), path);
}

/* Append to buf at *len, keeping it NUL-terminated and truncated. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t buf_size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len + 1 >= buf_size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, buf_size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < buf_size - *len ? (size_t)n : buf_size - *len - 1;
}

void verdict_describe(const struct verdict *v, char *buf, size_t buf_size)
{
	const struct verdict_where *w = &v->where;
	const char *sep = "";
	size_t len = 0;

	if (buf_size == 0)
		return;
	buf[0] = '\0';
	append(buf, buf_size, &len, "%s", v->reason != NULL ? v->reason : "unknown");
	if (v->detail[0] != '\0')
		append(buf, buf_size, &len, " %s", v->detail);
	if (v->jti[0] != '\0' || v->kid[0] != '\0')
		append(buf, buf_size, &len, " (jti=%s, kid=%s)", v->jti[0] ? v->jti : "-",
		       v->kid[0] ? v->kid : "-");
	if (w->file[0] != '\0' || w->line > 0 || w->option[0] != '\0' || w->path[0] != '\0') {
		append(buf, buf_size, &len, " [");
		if (w->file[0] != '\0' || w->line > 0) {
			append(buf, buf_size, &len, "%s%s", w->file, w->file[0] != '\0' &&
			       w->line > 0 ? " " : "");
			if (w->line > 0)
				append(buf, buf_size, &len, "line %ld", w->line);
			sep = ", ";
		}
		if (w->option[0] != '\0') {
			append(buf, buf_size, &len, "%soption %s", sep, w->option);
			sep = ", ";
		}
		if (w->path[0] != '\0')
			append(buf, buf_size, &len, "%spath %s", sep, w->path);
		append(buf, buf_size, &len, "]");
	}
	if (w->suggest != NULL)
		append(buf, buf_size, &len, "; did you mean %s?", w->suggest);
	if (w->hint != NULL)
		append(buf, buf_size, &len, "; %s", w->hint);
}

/* explain_refusal: the refusals a user may be told about. Each is decided only after the
 * token's signature verified (so only the holder of a genuine token learns it) and says
 * nothing they could not read in their own token: its times, its issuer and audience. Not
 * here, on purpose: whether a user exists or a key id is known, a signature or format
 * failure, revocation, locks, sessions and the store. */
static const struct {
	const char *reason;
	const char *message;
} user_messages[] = {
	{ "expired", "The token has expired: get a new one." },
	{ "not yet valid", "The token is not valid yet: check the clocks, or wait." },
	{ "issued in the future", "The token was issued in the future: check the clocks." },
	{ "authentication is too old", "The login behind the token is too old: log in to "
				       "the issuer again." },
	{ "wrong audience", "The token is for another audience than this service." },
	{ "token has no aud", "The token names no audience, and this service needs one." },
	{ "wrong issuer", "The token is from another issuer than this service trusts." },
};

const char *verdict_user_message(const struct verdict *v)
{
	size_t i;

	if (v->code != VERDICT_REJECT || v->reason == NULL)
		return NULL;
	for (i = 0; i < sizeof(user_messages) / sizeof(user_messages[0]); i++)
		if (strcmp(v->reason, user_messages[i].reason) == 0)
			return user_messages[i].message;
	return NULL;
}

const char *verdict_code_name(enum verdict_code code)
{
	switch (code) {
	case VERDICT_OK: return "accepted";
	case VERDICT_REJECT: return "refused";
	case VERDICT_UNAVAILABLE: return "unavailable";
	case VERDICT_BAD_CONFIG: return "bad configuration";
	}
	return "unknown";
}
