/*
 * libFuzzer target: the pam-jwtd request protocol. The input is one message as the daemon
 * receives it, parsed by proto_request_parse. A refusal must carry a reason that an error
 * answer can carry, and leave the request empty. A request that parses must be sane (a
 * valid op, only the members the op allows, credentials of their exact shape), format
 * into a message that parses back to the same request, and formatting that gives the
 * same text again. The input is also parsed as an answer. A mismatch abort()s.
 * Seeds: tests/fuzz/corpus/fuzz_request/.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "store.h"

const char *__ubsan_default_options(void);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* UBSan findings are crashes, not log lines. */
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

static bool same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_request(const struct proto_request *a, const struct proto_request *b)
{
	return a->op == b->op && same_str(a->session, b->session) &&
	       same_str(a->session_id, b->session_id) &&
	       same_str(a->refresh_token, b->refresh_token) && same_str(a->user, b->user) &&
	       same_str(a->jti, b->jti) && same_str(a->aud, b->aud) && a->has_exp == b->has_exp &&
	       a->exp == b->exp && a->has_until == b->has_until && a->until == b->until;
}

static bool is_zero(const struct proto_request *r)
{
	struct proto_request zero;

	memset(&zero, 0, sizeof(zero));
	return memcmp(r, &zero, sizeof(zero)) == 0;
}

static bool text_sane(const char *s)
{
	size_t n;

	if (s == NULL)
		return true;
	n = strlen(s);
	return n >= 1 && n <= PROTO_STRING_MAX;
}

/* What the table promises about a request that parsed. */
static bool request_sane(const struct proto_request *r)
{
	bool ok = proto_op_name(r->op) != NULL && text_sane(r->session) &&
		  text_sane(r->user) && text_sane(r->jti) && text_sane(r->aud) &&
		  (!r->has_exp || r->exp >= 0) && (!r->has_until || r->until >= 0) &&
		  (r->has_exp || r->exp == 0) && (r->has_until || r->until == 0);

	if (r->session_id != NULL)
		ok = ok && store_session_id_looks_like(r->session_id, strlen(r->session_id));
	if (r->refresh_token != NULL)
		ok = ok && store_refresh_id_looks_like(r->refresh_token, strlen(r->refresh_token));
	switch (r->op) {
	case PROTO_OP_OPEN:
		ok = ok && r->session != NULL && strlen(r->session) == STORE_DIGEST_HEX_LEN &&
		     !r->session_id && !r->refresh_token && !r->user && !r->jti && !r->has_exp &&
		     !r->has_until;
		break;
	case PROTO_OP_REFRESH:
		ok = ok && r->refresh_token != NULL && !r->session && !r->session_id && !r->user &&
		     !r->jti && !r->aud && !r->has_exp && !r->has_until;
		break;
	case PROTO_OP_TOKEN:
	case PROTO_OP_LOGOUT:
		ok = ok && r->session_id != NULL && !r->session && !r->refresh_token && !r->user &&
		     !r->jti && !r->has_exp && !r->has_until &&
		     (r->op == PROTO_OP_TOKEN || !r->aud);
		break;
	case PROTO_OP_REVOKE:
		ok = ok && (r->session != NULL) + (r->user != NULL) + (r->jti != NULL) == 1 &&
		     (!r->has_exp || r->jti != NULL) && !r->session_id && !r->refresh_token &&
		     !r->aud && !r->has_until;
		break;
	case PROTO_OP_LOCK:
	case PROTO_OP_UNLOCK:
	case PROTO_OP_SESSIONS:
		ok = ok && (r->user != NULL || r->op == PROTO_OP_SESSIONS) && !r->session &&
		     !r->session_id && !r->refresh_token && !r->jti && !r->aud && !r->has_exp &&
		     (r->op == PROTO_OP_LOCK || !r->has_until);
		break;
	case PROTO_OP_PING:
	case PROTO_OP_STATUS:
	case PROTO_OP_GC:
	case PROTO_OP_RELOAD:
	case PROTO_OP_JWKS:
		ok = ok && !r->session && !r->session_id && !r->refresh_token && !r->user &&
		     !r->jti && !r->aud && !r->has_exp && !r->has_until;
		break;
	case PROTO_OP_COUNT:
		ok = false;
		break;
	}
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req, back;
	struct proto_answer ans;
	const char *why = NULL;
	char *msg, *again, *answer;

	if (proto_request_parse((const char *)data, size, &req, &why) != 0) {
		if (why == NULL || !is_zero(&req))
			abort();
		/* every refusal reason is one an error answer can carry */
		answer = proto_answer_error(why);
		if (answer == NULL)
			abort();
		proto_message_free(answer);
	} else {
		if (why != NULL || !request_sane(&req))
			abort();
		msg = proto_request_format(&req, &why);
		if (msg == NULL || why != NULL)
			abort();
		if (proto_request_parse(msg, strlen(msg), &back, &why) != 0 ||
		    !same_request(&req, &back))
			abort();
		again = proto_request_format(&back, NULL);
		if (again == NULL || strcmp(msg, again) != 0)
			abort();
		proto_message_free(again);
		proto_message_free(msg);
		proto_request_clear(&back);
		proto_request_clear(&req);
	}

	/* the same bytes as an answer */
	if (proto_answer_parse((const char *)data, size, &ans, &why) == 0) {
		if (ans.root == NULL || (ans.ok && ans.error != NULL) ||
		    (!ans.ok && (ans.error == NULL || strlen(ans.error) == 0 ||
				 strlen(ans.error) > PROTO_STRING_MAX)))
			abort();
		proto_answer_clear(&ans);
	} else if (why == NULL || ans.root != NULL) {
		abort();
	}
	return 0;
}
