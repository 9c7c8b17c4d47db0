#include "verdict.h"

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

void verdict_describe(const struct verdict *v, char *buf, size_t buf_size)
{
	const char *reason = v->reason != NULL ? v->reason : "unknown";
	const char *sep = v->detail[0] != '\0' ? " " : "";

	if (v->jti[0] != '\0' || v->kid[0] != '\0')
		snprintf(buf, buf_size, "%s%s%s (jti=%s, kid=%s)", reason, sep, v->detail,
			 v->jti[0] ? v->jti : "-", v->kid[0] ? v->kid : "-");
	else
		snprintf(buf, buf_size, "%s%s%s", reason, sep, v->detail);
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
