/*
 * The request protocol of pam-jwtd (see proto.h): strict request parsing driven by one
 * table of ops, the permission table, message building, and the client and server ends
 * of the SOCK_SEQPACKET transport.
 */
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secmem.h"
#include "credid.h"

_Static_assert(PROTO_STRING_MAX + 1 == 256 /* STORE_FIELD_MAX */,
	       "a request string must fit a store field");
_Static_assert(PROTO_REQUEST_MAX < PROTO_ANSWER_MAX, "answers may be longer than requests");

/* ---- the table of ops ---------------------------------------------------------------- */

/* Every member a request may carry, besides "op". */
enum member {
	M_SESSION,
	M_SESSION_ID,
	M_REFRESH_TOKEN,
	M_USER,
	M_JTI,
	M_AUD,
	M_EXP,
	M_UNTIL,
	M_END_LOGINS,
	M_COUNT
};

static const char *const member_names[M_COUNT] = {
	[M_SESSION] = "session",
	[M_SESSION_ID] = "session_id",
	[M_REFRESH_TOKEN] = "refresh_token",
	[M_USER] = "user",
	[M_JTI] = "jti",
	[M_AUD] = "aud",
	[M_EXP] = "exp",
	[M_UNTIL] = "until",
	[M_END_LOGINS] = "end_logins",
};

/* What a member's value must look like; SHAPE_NONE: the op does not allow the member. */
enum shape {
	SHAPE_NONE = 0,
	SHAPE_TEXT,          /* string: 1..PROTO_STRING_MAX bytes, no control characters */
	SHAPE_DIGEST,        /* string: 64 lowercase hex */
	SHAPE_DIGEST_PREFIX, /* string: PROTO_PREFIX_MIN..64 hex, either case */
	SHAPE_SESSION_ID,    /* string: "pjs_" + 43 base64url (store_session_id_looks_like) */
	SHAPE_REFRESH_TOKEN, /* string: "pjr_" + 43 base64url (store_refresh_id_looks_like) */
	SHAPE_INTEGER,       /* integer: 0..INT64_MAX */
	SHAPE_FLAG,          /* true or false (kept as 1 or 0 in an integer slot) */
};

struct member_rule {
	enum shape shape;
	bool required;
};

struct op_spec {
	const char *name;
	bool unprivileged; /* an unprivileged caller may ask for it (root may ask for any) */
	struct member_rule members[M_COUNT];
};

#define REQ(s) { .shape = (s), .required = true }
#define OPT(s) { .shape = (s), .required = false }

/* The whole protocol: each op's name, who may call it, and the members it takes. The
 * one rule the table cannot say (revoke: exactly one selector; exp only with jti) is in
 * revoke_check. */
static const struct op_spec op_table[PROTO_OP_COUNT] = {
	[PROTO_OP_PING] = { .name = "ping", .unprivileged = true },
	[PROTO_OP_STATUS] = { .name = "status", .unprivileged = true },
	[PROTO_OP_OPEN] = { .name = "open", .unprivileged = false,
			    .members = { [M_SESSION] = REQ(SHAPE_DIGEST),
					 [M_AUD] = OPT(SHAPE_TEXT) } },
	[PROTO_OP_REFRESH] = { .name = "refresh", .unprivileged = true,
			       .members = { [M_REFRESH_TOKEN] = REQ(SHAPE_REFRESH_TOKEN) } },
	[PROTO_OP_TOKEN] = { .name = "token", .unprivileged = true,
			     .members = { [M_SESSION_ID] = REQ(SHAPE_SESSION_ID),
					  [M_AUD] = OPT(SHAPE_TEXT) } },
	[PROTO_OP_LOGOUT] = { .name = "logout", .unprivileged = true,
			      .members = { [M_SESSION_ID] = REQ(SHAPE_SESSION_ID) } },
	[PROTO_OP_REVOKE] = { .name = "revoke", .unprivileged = false,
			      .members = { [M_SESSION] = OPT(SHAPE_DIGEST_PREFIX),
					   [M_USER] = OPT(SHAPE_TEXT),
					   [M_JTI] = OPT(SHAPE_TEXT),
					   [M_EXP] = OPT(SHAPE_INTEGER) } },
	[PROTO_OP_LOCK] = { .name = "lock", .unprivileged = false,
			    .members = { [M_USER] = REQ(SHAPE_TEXT),
					 [M_UNTIL] = OPT(SHAPE_INTEGER),
					 [M_END_LOGINS] = OPT(SHAPE_FLAG) } },
	[PROTO_OP_UNLOCK] = { .name = "unlock", .unprivileged = false,
			      .members = { [M_USER] = REQ(SHAPE_TEXT) } },
	[PROTO_OP_SESSIONS] = { .name = "sessions", .unprivileged = true,
				.members = { [M_USER] = OPT(SHAPE_TEXT) } },
	[PROTO_OP_GC] = { .name = "gc", .unprivileged = false },
	[PROTO_OP_RELOAD] = { .name = "reload", .unprivileged = false },
	[PROTO_OP_JWKS] = { .name = "jwks", .unprivileged = true },
};

#undef REQ
#undef OPT

static bool op_valid(enum proto_op op)
{
	return (unsigned)op < PROTO_OP_COUNT;
}

const char *proto_op_name(enum proto_op op)
{
	return op_valid(op) ? op_table[op].name : NULL;
}

bool proto_op_allowed(enum proto_op op, bool caller_is_root)
{
	return op_valid(op) && (caller_is_root || op_table[op].unprivileged);
}

/* ---- the struct's slots -------------------------------------------------------------- */

static char **slot_string(struct proto_request *req, enum member m)
{
	char **slot = NULL;

	switch (m) {
	case M_SESSION:
		slot = &req->session;
		break;
	case M_SESSION_ID:
		slot = &req->session_id;
		break;
	case M_REFRESH_TOKEN:
		slot = &req->refresh_token;
		break;
	case M_USER:
		slot = &req->user;
		break;
	case M_JTI:
		slot = &req->jti;
		break;
	case M_AUD:
		slot = &req->aud;
		break;
	case M_EXP:
	case M_UNTIL:
	case M_END_LOGINS:
	case M_COUNT:
		break;
	}
	return slot;
}

/* The integer slot of m and its has_ flag; NULL for a string member. */
static int64_t *slot_integer(struct proto_request *req, enum member m, bool **has)
{
	int64_t *slot = NULL;

	*has = NULL;
	switch (m) {
	case M_EXP:
		slot = &req->exp;
		*has = &req->has_exp;
		break;
	case M_UNTIL:
		slot = &req->until;
		*has = &req->has_until;
		break;
	case M_END_LOGINS:
		slot = &req->end_logins;
		*has = &req->has_end_logins;
		break;
	case M_SESSION:
	case M_SESSION_ID:
	case M_REFRESH_TOKEN:
	case M_USER:
	case M_JTI:
	case M_AUD:
	case M_COUNT:
		break;
	}
	return slot;
}

static bool member_present(struct proto_request *req, enum member m)
{
	char **str = slot_string(req, m);
	bool *has;

	if (str != NULL)
		return *str != NULL;
	(void)slot_integer(req, m, &has);
	return has != NULL && *has;
}

void proto_request_clear(struct proto_request *req)
{
	if (req != NULL) {
		secmem_free_string(req->session_id);
		secmem_free_string(req->refresh_token);
		free(req->session);
		free(req->user);
		free(req->jti);
		free(req->aud);
		memset(req, 0, sizeof(*req));
	}
}

/* ---- value checks -------------------------------------------------------------------- */

/* 1..PROTO_STRING_MAX bytes, no NUL, no C0 control, no DEL, no C1 control. The string is
 * valid UTF-8 already (jansson checks), so 0xc2 is always a lead byte here. */
static const char *text_check(const char *s, size_t len)
{
	const char *why = NULL;
	size_t i;

	if (len == 0) {
		why = "value is malformed";
		goto out;
	}
	if (len > PROTO_STRING_MAX) {
		why = "value is too long";
		goto out;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f ||
		    (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
		     (unsigned char)s[i + 1] <= 0x9f)) {
			why = "value is malformed";
			goto out;
		}
	}
out:
	return why;
}

static bool is_hex(const char *s, size_t len, bool upper_ok)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < len && ok; i++) {
		char c = s[i];

		ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		     (upper_ok && c >= 'A' && c <= 'F');
	}
	return ok;
}

static bool shape_ok(enum shape shape, const char *s, size_t len)
{
	bool ok = false;

	switch (shape) {
	case SHAPE_TEXT:
		ok = true;
		break;
	case SHAPE_DIGEST:
		ok = len == STORE_DIGEST_HEX_LEN && is_hex(s, len, false);
		break;
	case SHAPE_DIGEST_PREFIX:
		ok = len >= PROTO_PREFIX_MIN && len <= STORE_DIGEST_HEX_LEN && is_hex(s, len, true);
		break;
	case SHAPE_SESSION_ID:
		ok = store_session_id_looks_like(s, len);
		break;
	case SHAPE_REFRESH_TOKEN:
		ok = store_refresh_id_looks_like(s, len);
		break;
	case SHAPE_NONE:
	case SHAPE_INTEGER:
	case SHAPE_FLAG:
		break;
	}
	return ok;
}

/* Check one member's value against its shape and store a copy in req. 0, or -1 with
 * *why. */
static int member_store(struct proto_request *req, enum member m, enum shape shape,
			json_t *value, const char **why)
{
	char **str;
	int64_t *num;
	bool *has;
	const char *s;
	size_t len;
	int rc = -1;

	if (shape == SHAPE_FLAG) {
		num = slot_integer(req, m, &has);
		if (!json_is_boolean(value)) {
			*why = "member has the wrong type";
			goto out;
		}
		if (num == NULL || has == NULL) {
			*why = "value is malformed";
			goto out;
		}
		*num = json_is_true(value) ? 1 : 0;
		*has = true;
		rc = 0;
		goto out;
	}
	if (shape == SHAPE_INTEGER) {
		num = slot_integer(req, m, &has);
		if (!json_is_integer(value)) {
			*why = "member has the wrong type";
			goto out;
		}
		if (num == NULL || has == NULL || json_integer_value(value) < 0) {
			*why = "value is malformed";
			goto out;
		}
		*num = (int64_t)json_integer_value(value);
		*has = true;
		rc = 0;
		goto out;
	}
	str = slot_string(req, m);
	if (!json_is_string(value)) {
		*why = "member has the wrong type";
		goto out;
	}
	s = json_string_value(value);
	len = json_string_length(value);
	if (str == NULL || s == NULL) {
		*why = "value is malformed";
		goto out;
	}
	*why = text_check(s, len); /* also refuses an embedded NUL */
	if (*why != NULL)
		goto out;
	if (!shape_ok(shape, s, len)) {
		*why = "value is malformed";
		goto out;
	}
	*str = malloc(len + 1);
	if (*str == NULL) {
		*why = "out of memory";
		goto out;
	}
	memcpy(*str, s, len);
	(*str)[len] = '\0';
	rc = 0;
out:
	return rc;
}

/* revoke names exactly one selector; exp belongs to jti. */
static const char *revoke_check(const struct proto_request *req)
{
	const char *why = NULL;
	int selectors = (req->session != NULL) + (req->user != NULL) + (req->jti != NULL);

	if (selectors != 1)
		why = "revoke needs exactly one of session, user, jti";
	else if (req->has_exp && req->jti == NULL)
		why = "exp needs jti";
	return why;
}

static const char *load_error_reason(const json_error_t *err)
{
	const char *why = "malformed request";

	switch (json_error_code(err)) {
	case json_error_duplicate_key:
		why = "duplicate member";
		break;
	case json_error_null_character:
	case json_error_numeric_overflow:
		why = "value is malformed";
		break;
	case json_error_out_of_memory:
		why = "out of memory";
		break;
	default:
		break;
	}
	return why;
}

static bool op_lookup(const char *name, size_t len, enum proto_op *op)
{
	bool found = false;
	unsigned i;

	for (i = 0; i < PROTO_OP_COUNT && !found; i++) {
		if (strlen(op_table[i].name) == len && memcmp(op_table[i].name, name, len) == 0) {
			*op = (enum proto_op)i;
			found = true;
		}
	}
	return found;
}

static enum member member_lookup(const char *key)
{
	enum member m = M_COUNT;
	unsigned i;

	for (i = 0; i < M_COUNT && m == M_COUNT; i++)
		if (strcmp(member_names[i], key) == 0)
			m = (enum member)i;
	return m;
}

/* ---- requests ------------------------------------------------------------------------ */

int proto_request_parse(const char *buf, size_t len, struct proto_request *out,
			const char **reason)
{
	const char *why = "malformed request", *key;
	const struct op_spec *spec;
	json_error_t err;
	json_t *root = NULL, *value, *opv;
	enum proto_op op = PROTO_OP_PING;
	enum member m;
	unsigned i;
	int rc = -1;

	if (out == NULL)
		goto out;
	memset(out, 0, sizeof(*out));
	if (buf == NULL || len == 0)
		goto out;
	if (len > PROTO_REQUEST_MAX) {
		why = "request too large";
		goto out;
	}
	/* A raw NUL byte is never JSON; refuse it before the parser sees it. */
	if (memchr(buf, '\0', len) != NULL)
		goto out;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		why = load_error_reason(&err);
		goto out;
	}
	if (!json_is_object(root))
		goto out;

	opv = json_object_get(root, "op");
	if (opv == NULL) {
		why = "missing member";
		goto out;
	}
	if (!json_is_string(opv)) {
		why = "member has the wrong type";
		goto out;
	}
	if (!op_lookup(json_string_value(opv), json_string_length(opv), &op)) {
		why = "unknown operation";
		goto out;
	}
	out->op = op;
	spec = &op_table[op];

	json_object_foreach(root, key, value) {
		if (strcmp(key, "op") == 0)
			continue;
		m = member_lookup(key);
		if (m == M_COUNT || spec->members[m].shape == SHAPE_NONE) {
			why = "unexpected member";
			goto out;
		}
		if (member_store(out, m, spec->members[m].shape, value, &why) != 0)
			goto out;
	}
	for (i = 0; i < M_COUNT; i++) {
		if (spec->members[i].required && !member_present(out, (enum member)i)) {
			why = "missing member";
			goto out;
		}
	}
	if (op == PROTO_OP_REVOKE) {
		why = revoke_check(out);
		if (why != NULL)
			goto out;
	}
	why = NULL;
	rc = 0;
out:
	json_decref(root);
	if (rc != 0)
		proto_request_clear(out);
	if (reason != NULL)
		*reason = why;
	return rc;
}

void proto_message_free(char *msg)
{
	secmem_free_string(msg);
}

/* Most requests and answers fit this; larger ones cost a second dump. */
#define MESSAGE_FIRST_GUESS 2048

/* Dump root as compact JSON into a malloc'd, NUL-terminated message of at most max bytes.
 * The text goes straight into the message buffer (no growing copies). NULL when too large
 * (*too_large set) or on error. */
static char *message_dump(const json_t *root, size_t max, bool *too_large)
{
	char *msg = NULL;
	size_t size;

	*too_large = false;
	/* one pass into a buffer of the usual size; a second pass only for a larger message */
	msg = malloc(MESSAGE_FIRST_GUESS);
	if (msg == NULL)
		goto out;
	size = json_dumpb(root, msg, MESSAGE_FIRST_GUESS - 1, JSON_COMPACT);
	if (size > 0 && size < MESSAGE_FIRST_GUESS && size <= max) {
		msg[size] = '\0';
		goto out;
	}
	secmem_free(msg, MESSAGE_FIRST_GUESS);
	msg = NULL;
	if (size == 0)
		goto out;
	if (size > max) {
		*too_large = true;
		goto out;
	}
	msg = malloc(size + 1);
	if (msg == NULL)
		goto out;
	if (json_dumpb(root, msg, size, JSON_COMPACT) != size) {
		secmem_free(msg, size + 1);
		msg = NULL;
		goto out;
	}
	msg[size] = '\0';
out:
	return msg;
}

char *proto_request_format(const struct proto_request *req, const char **reason)
{
	const char *why = "malformed request";
	struct proto_request view, check;
	json_t *root = NULL, *value;
	char *msg = NULL, **str;
	int64_t *num;
	bool *has, too_large;
	unsigned i;

	memset(&check, 0, sizeof(check));
	if (req == NULL || !op_valid(req->op))
		goto out;
	/* A shallow copy, so the slot helpers can read a const request. */
	view = *req;
	root = json_object();
	if (root == NULL ||
	    json_object_set_new(root, "op", json_string(op_table[req->op].name)) != 0) {
		why = "out of memory";
		goto out;
	}
	for (i = 0; i < M_COUNT; i++) {
		value = NULL;
		str = slot_string(&view, (enum member)i);
		num = slot_integer(&view, (enum member)i, &has);
		if (str != NULL && *str != NULL) {
			/* json_string refuses invalid UTF-8 */
			value = json_string(*str);
			if (value == NULL) {
				why = "value is malformed";
				goto out;
			}
		} else if (num != NULL && has != NULL && *has) {
			if (*num < 0) {
				why = "value is malformed";
				goto out;
			}
			value = op_table[req->op].members[i].shape == SHAPE_FLAG ?
					json_boolean(*num != 0) : json_integer((json_int_t)*num);
			if (value == NULL) {
				why = "out of memory";
				goto out;
			}
		}
		if (value != NULL && json_object_set_new(root, member_names[i], value) != 0) {
			why = "out of memory";
			goto out;
		}
	}
	msg = message_dump(root, PROTO_REQUEST_MAX, &too_large);
	if (msg == NULL) {
		why = too_large ? "request too large" : "out of memory";
		goto out;
	}
	/* Build only what the daemon accepts. */
	if (proto_request_parse(msg, strlen(msg), &check, &why) != 0) {
		proto_message_free(msg);
		msg = NULL;
		goto out;
	}
	why = NULL;
out:
	proto_request_clear(&check);
	json_decref(root);
	if (reason != NULL)
		*reason = why;
	return msg;
}

/* ---- answers ------------------------------------------------------------------------- */

char *proto_answer_ok(json_t *body)
{
	const char *key;
	json_t *root = NULL, *value;
	char *msg = NULL;
	bool too_large;

	if (body != NULL && !json_is_object(body))
		goto out;
	root = json_object();
	if (root == NULL || json_object_set_new(root, "ok", json_true()) != 0)
		goto out;
	if (body != NULL) {
		json_object_foreach(body, key, value) {
			if (strcmp(key, "ok") == 0 || strcmp(key, "error") == 0)
				goto out;
			if (json_object_set(root, key, value) != 0)
				goto out;
		}
	}
	msg = message_dump(root, PROTO_ANSWER_MAX, &too_large);
out:
	json_decref(root);
	return msg;
}

char *proto_answer_error(const char *reason)
{
	json_t *root = NULL, *value;
	char *msg = NULL;
	bool too_large;

	if (reason == NULL || text_check(reason, strlen(reason)) != NULL)
		goto out;
	value = json_string(reason); /* refuses invalid UTF-8 */
	root = json_object();
	if (value == NULL || root == NULL) {
		json_decref(value);
		goto out;
	}
	if (json_object_set_new(root, "ok", json_false()) != 0 ||
	    json_object_set_new(root, "error", value) != 0)
		goto out;
	msg = message_dump(root, PROTO_ANSWER_MAX, &too_large);
out:
	json_decref(root);
	return msg;
}

int proto_answer_parse(const char *buf, size_t len, struct proto_answer *out,
		       const char **reason)
{
	const char *why = "daemon answer is malformed";
	json_error_t err;
	json_t *root = NULL, *ok, *error;
	int rc = -1;

	if (out == NULL)
		goto out;
	memset(out, 0, sizeof(*out));
	if (buf == NULL || len == 0 || memchr(buf, '\0', len) != NULL)
		goto out;
	if (len > PROTO_ANSWER_MAX) {
		why = "daemon answer is too large";
		goto out;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		if (json_error_code(&err) == json_error_out_of_memory)
			why = "out of memory";
		goto out;
	}
	if (!json_is_object(root))
		goto out;
	ok = json_object_get(root, "ok");
	error = json_object_get(root, "error");
	if (!json_is_boolean(ok))
		goto out;
	if (json_is_true(ok)) {
		if (error != NULL)
			goto out;
	} else {
		if (json_object_size(root) != 2 || !json_is_string(error) ||
		    text_check(json_string_value(error), json_string_length(error)) != NULL)
			goto out;
		out->error = json_string_value(error);
	}
	out->ok = json_is_true(ok);
	out->root = root;
	root = NULL;
	why = NULL;
	rc = 0;
out:
	json_decref(root);
	if (reason != NULL)
		*reason = why;
	return rc;
}

void proto_answer_clear(struct proto_answer *ans)
{
	if (ans != NULL) {
		json_decref(ans->root);
		memset(ans, 0, sizeof(*ans));
	}
}

/* ---- client -------------------------------------------------------------------------- */

/* Milliseconds left until deadline (CLOCK_MONOTONIC), rounded up; 0 once it has passed. */
static int ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		return 0;
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	     (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	if (ms < 0)
		ms = 0;
	if (ms > 0x7fffffff)
		ms = 0x7fffffff;
	return (int)ms;
}

/* Bound the blocking connect and send by what is left of the deadline. A timeout of zero
 * would mean "forever" to the kernel: the caller checks ms > 0 first. */
static int set_send_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static const char *connect_reason(int err)
{
	const char *why = "cannot connect to the daemon";

	switch (err) {
	case ENOENT:
	case ECONNREFUSED:
		why = "daemon is not running";
		break;
	case EACCES:
	case EPERM:
		why = "permission denied on the daemon socket";
		break;
	case EAGAIN:
	case EINPROGRESS:
	case ETIMEDOUT:
		why = "daemon did not answer in time";
		break;
	default:
		break;
	}
	return why;
}

int proto_call(const char *socket_path, const char *request, size_t request_len,
	       int timeout_ms, char **answer, size_t *answer_len, const char **reason)
{
	struct sockaddr_un addr;
	struct timespec deadline;
	struct pollfd pfd;
	struct iovec iov;
	struct msghdr msg;
	const char *why = "invalid argument";
	char *buf = NULL, *copy;
	size_t path_len, got = 0;
	ssize_t n;
	int fd = -1, rc = -1, left, pr;
	uid_t peer_uid = (uid_t)-1;
	bool done;

	if (answer != NULL)
		*answer = NULL;
	if (answer_len != NULL)
		*answer_len = 0;
	if (answer == NULL || timeout_ms <= 0)
		goto out;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	path_len = socket_path != NULL ? strnlen(socket_path, sizeof(addr.sun_path)) : 0;
	if (path_len == 0 || path_len >= sizeof(addr.sun_path)) {
		why = "socket path is invalid";
		goto out;
	}
	memcpy(addr.sun_path, socket_path, path_len);
	if (request == NULL || request_len == 0) {
		why = "malformed request";
		goto out;
	}
	if (request_len > PROTO_REQUEST_MAX) {
		why = "request too large";
		goto out;
	}
	if (clock_gettime(CLOCK_MONOTONIC, &deadline) != 0) {
		why = "cannot connect to the daemon";
		goto out;
	}
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		why = "cannot create a socket";
		goto out;
	}

	/* connect: blocks only while the daemon's backlog is full, bounded by SO_SNDTIMEO */
	for (;;) {
		left = ms_left(&deadline);
		if (left == 0) {
			why = "daemon did not answer in time";
			goto out;
		}
		if (set_send_timeout(fd, left) != 0) {
			why = "cannot connect to the daemon";
			goto out;
		}
		if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		if (errno != EINTR) {
			why = connect_reason(errno);
			goto out;
		}
	}
	/* only root's daemon (or our own process, in tests) is believed */
	if (proto_peer_cred(fd, &peer_uid, NULL, NULL) != 0 ||
	    (peer_uid != 0 && peer_uid != geteuid())) {
		why = "daemon socket is not served by root";
		goto out;
	}

	/* send: one message, whole or not at all */
	for (;;) {
		left = ms_left(&deadline);
		if (left == 0) {
			why = "daemon did not answer in time";
			goto out;
		}
		if (set_send_timeout(fd, left) != 0) {
			why = "cannot send the request";
			goto out;
		}
		n = send(fd, request, request_len, MSG_NOSIGNAL);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			why = "daemon did not answer in time";
		else if (errno == EPIPE || errno == ECONNRESET)
			why = "daemon closed the connection";
		else
			why = "cannot send the request";
		goto out;
	}
	if ((size_t)n != request_len) {
		why = "cannot send the request";
		goto out;
	}

	/* receive: one message; a longer one than we take is refused, never cut */
	buf = malloc(PROTO_ANSWER_MAX + 1);
	if (buf == NULL) {
		why = "out of memory";
		goto out;
	}
	done = false;
	while (!done) {
		left = ms_left(&deadline);
		if (left == 0) {
			why = "daemon did not answer in time";
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		pr = poll(&pfd, 1, left);
		if (pr < 0 && errno != EINTR) {
			why = "cannot read the answer";
			goto out;
		}
		if (pr <= 0)
			continue; /* interrupted or timed out: the deadline check decides */
		iov.iov_base = buf;
		iov.iov_len = PROTO_ANSWER_MAX;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			why = errno == ECONNRESET ? "daemon closed the connection"
						  : "cannot read the answer";
			goto out;
		}
		if (n == 0) {
			why = "daemon closed the connection";
			goto out;
		}
		if ((msg.msg_flags & MSG_TRUNC) != 0) {
			why = "daemon answer is too large";
			goto out;
		}
		got = (size_t)n;
		done = true;
	}
	if (memchr(buf, '\0', got) != NULL) {
		why = "daemon answer is malformed";
		goto out;
	}
	copy = malloc(got + 1);
	if (copy == NULL) {
		why = "out of memory";
		goto out;
	}
	memcpy(copy, buf, got);
	copy[got] = '\0';
	*answer = copy;
	if (answer_len != NULL)
		*answer_len = got;
	why = NULL;
	rc = 0;
out:
	secmem_free(buf, PROTO_ANSWER_MAX + 1);
	if (fd >= 0)
		close(fd);
	if (reason != NULL)
		*reason = why;
	return rc;
}

/* ---- server -------------------------------------------------------------------------- */

int proto_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int rc = -1;

	memset(&cred, 0, sizeof(cred));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		goto out;
	if (len != sizeof(cred)) {
		errno = EINVAL;
		goto out;
	}
	if (uid != NULL)
		*uid = cred.uid;
	if (gid != NULL)
		*gid = cred.gid;
	if (pid != NULL)
		*pid = cred.pid;
	rc = 0;
out:
	return rc;
}

/* /proc/PID/status holds its "Uid:" line well within this (the name before it is at most
 * 64 bytes, escaped). */
#define PROC_STATUS_HEAD 4096
/* statfs(2) f_type of procfs */
#define PROC_FS_MAGIC 0x9fa0

/* The four ids of a "Uid:" line's value: real, effective, saved, file system, separated by
 * tabs and ended by a newline. 0, or -1 if it is not exactly that. */
static int parse_uid_line(const char *p, const char *end, uid_t ids[4])
{
	unsigned long long n;
	size_t i;
	int rc = -1;

	for (i = 0; i < 4; i++) {
		if (p >= end || *p != '\t')
			goto out;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			goto out;
		for (n = 0; p < end && *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (unsigned long long)(*p - '0');
			if (n >= PROTO_UID_UNKNOWN)
				goto out;
		}
		ids[i] = (uid_t)n;
	}
	if (p >= end || *p != '\n')
		goto out;
	rc = 0;
out:
	return rc;
}

/* The real, effective, saved and file system user IDs of pid, from /proc/PID/status,
 * opened below a checked procfs without following links. 0, or -1. */
static int proc_status_uids(pid_t pid, uid_t ids[4])
{
	static const char key[] = "Uid:";
	char name[24], buf[PROC_STATUS_HEAD];
	struct statfs sfs;
	const char *line, *end;
	size_t used = 0;
	ssize_t n;
	int proc = -1, dir = -1, fd = -1, rc = -1;

	if (pid <= 0)
		goto out;
	proc = open("/proc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (proc < 0 || fstatfs(proc, &sfs) != 0 || sfs.f_type != PROC_FS_MAGIC)
		goto out;
	snprintf(name, sizeof(name), "%d", (int)pid);
	dir = openat(proc, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		goto out;
	fd = openat(dir, "status", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto out;
	while (used < sizeof(buf)) {
		n = read(fd, buf + used, sizeof(buf) - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	/* the first line that starts with the key; a name cannot hold a newline (escaped) */
	end = buf + used;
	for (line = buf; line < end; line++) {
		if ((size_t)(end - line) > strlen(key) && memcmp(line, key, strlen(key)) == 0) {
			rc = parse_uid_line(line + strlen(key), end, ids);
			break;
		}
		line = memchr(line, '\n', (size_t)(end - line));
		if (line == NULL)
			break;
	}
out:
	if (fd >= 0)
		close(fd);
	if (dir >= 0)
		close(dir);
	if (proc >= 0)
		close(proc);
	return rc;
}

uid_t proto_peer_account_uid(pid_t pid, uid_t euid)
{
	uid_t ids[4], account = euid;

	if (euid != 0)
		goto out;
	if (proc_status_uids(pid, ids) != 0)
		account = PROTO_UID_UNKNOWN;
	else if (ids[0] != 0)
		account = ids[0];
	else if (ids[2] != 0)
		account = ids[2];
	else if (ids[1] != 0)
		account = ids[1]; /* no longer root since it connected */
out:
	return account;
}

enum proto_recv_result proto_recv_request(int fd, char buf[PROTO_REQUEST_MAX + 1],
					  size_t *len)
{
	enum proto_recv_result res = PROTO_RECV_ERROR;
	struct iovec iov = { .iov_base = buf, .iov_len = PROTO_REQUEST_MAX };
	struct msghdr msg;
	ssize_t n;

	if (len != NULL)
		*len = 0;
	if (buf == NULL || len == NULL) {
		errno = EINVAL;
		goto out;
	}
	do {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = recvmsg(fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		goto out;
	if (n == 0) {
		res = PROTO_RECV_CLOSED;
		goto out;
	}
	if ((msg.msg_flags & MSG_TRUNC) != 0) {
		OPENSSL_cleanse(buf, PROTO_REQUEST_MAX);
		res = PROTO_RECV_TOO_LARGE;
		goto out;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	res = PROTO_RECV_MESSAGE;
out:
	return res;
}

/* ---- jansson's copies ---------------------------------------------------------------- */

static void wiping_free(void *p)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

void proto_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}
