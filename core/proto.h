/*
 * The request protocol of the helper daemon pam-jwtd.
 *
 * Transport. An AF_UNIX socket of type SOCK_SEQPACKET at the configured path (default
 * /run/pam-jwtd.sock). One message is one JSON object (RFC 8259, UTF-8), nothing after it
 * but optional whitespace. A connection may carry several requests one after the other;
 * the daemon sends exactly one answer message for each request, in order. A request
 * message is at most PROTO_REQUEST_MAX bytes (a longer one is answered with the error
 * "request too large" and the connection stays usable); an answer is at most
 * PROTO_ANSWER_MAX bytes. The caller is identified by SO_PEERCRED only, never by anything
 * a request says.
 *
 * Requests. {"op":"<name>", ...members}. Parsing is strict: the message is an object;
 * "op" is required and one of the names below; every other member is one the op allows,
 * with its type; unknown members, duplicate members, wrong types and missing required
 * members are errors. Strings are 1..PROTO_STRING_MAX bytes of UTF-8 without control
 * characters (U+0000..U+001F, U+007F..U+009F); numbers are JSON integers in
 * 0..INT64_MAX.
 *
 *   op        members (required unless marked "opt")          who may call it
 *   ping      -                                                anyone
 *   status    -                                                anyone
 *   open      session (64 lowercase hex: a session digest),    root
 *             aud (opt)
 *   refresh   refresh_token ("pjr_" + 43 base64url)            anyone
 *   token     session_id ("pjs_" + 43 base64url), aud (opt)    anyone
 *   logout    session_id                                       anyone
 *   revoke    exactly one of: session (8..64 hex, any case:    root
 *             a digest or a prefix of one), user, jti;
 *             exp (opt integer, only with jti)
 *   lock      user, until (opt integer; 0: until unlocked),     root
 *             end_logins (opt boolean: revoke the user's sessions too)
 *   unlock    user                                             root
 *   sessions  user (opt)                                       anyone
 *   gc        -                                                root
 *   reload    -                                                root
 *   jwks      -                                                anyone
 *
 * "anyone" means the op may be asked by an unprivileged caller; whether that caller owns
 * the session, token or user it names is the daemon's decision, not the protocol's.
 *
 * Answers. {"ok":true, ...the op's result members} or {"ok":false,"error":"<reason>"}.
 *
 * Credentials. Session IDs and refresh tokens held in a struct proto_request, in message
 * buffers made or received here and in receive buffers are wiped before they are freed.
 * jansson keeps its own copies while it parses and builds JSON; a process of our own (the
 * daemon, pam-jwtctl) makes jansson wipe those too with proto_json_wipe_on_free(). A PAM
 * module must not call it: jansson's allocator is process-wide.
 */
#ifndef PAM_JWT_PROTO_H
#define PAM_JWT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define PROTO_REQUEST_MAX 8192
#define PROTO_ANSWER_MAX 65536
/* Longest string value of a request, in bytes: what fits a store field. */
#define PROTO_STRING_MAX 255
/* Shortest session digest prefix that revoke accepts. */
#define PROTO_PREFIX_MIN 8

enum proto_op {
	PROTO_OP_PING,
	PROTO_OP_STATUS,
	PROTO_OP_OPEN,
	PROTO_OP_REFRESH,
	PROTO_OP_TOKEN,
	PROTO_OP_LOGOUT,
	PROTO_OP_REVOKE,
	PROTO_OP_LOCK,
	PROTO_OP_UNLOCK,
	PROTO_OP_SESSIONS,
	PROTO_OP_GC,
	PROTO_OP_RELOAD,
	PROTO_OP_JWKS,
	PROTO_OP_COUNT /* not an op: the number of ops */
};

/* A request. Strings are NULL when absent; integers count only with their has_ flag. */
struct proto_request {
	enum proto_op op;
	char *session;       /* a session digest (open) or a digest or prefix (revoke) */
	char *session_id;    /* credential: wiped on clear */
	char *refresh_token; /* credential: wiped on clear */
	char *user;
	char *jti;
	char *aud;
	int64_t exp;
	int64_t until;
	int64_t end_logins;  /* a flag: 1 or 0 */
	bool has_exp;
	bool has_until;
	bool has_end_logins;
};

/* Parse one request message of len bytes (buf need not be NUL-terminated). out is
 * overwritten (it must not own anything). 0 on success; -1 with out cleared and *reason a
 * fixed static string: "malformed request", "request too large", "unknown operation",
 * "unexpected member", "duplicate member", "missing member", "member has the wrong type",
 * "value is malformed", "value is too long", "revoke needs exactly one of session, user,
 * jti", "exp needs jti", "out of memory". */
int proto_request_parse(const char *buf, size_t len, struct proto_request *out,
			const char **reason);
/* Wipe the credentials, free every member, zero the struct. NULL ok. */
void proto_request_clear(struct proto_request *req);

/* The op's name on the wire; NULL for a value that is no op. */
const char *proto_op_name(enum proto_op op);
/* The permission table: root may call every op; an unprivileged caller only ping,
 * status, refresh, token, logout, sessions and jwks. False for a value that is no op. */
bool proto_op_allowed(enum proto_op op, bool caller_is_root);

/* Build a request message: compact JSON, malloc'd, NUL-terminated, with "op" and every
 * member set in req (non-NULL strings, has_ integers). The message is checked with
 * proto_request_parse, so only a request the daemon would accept is built. NULL on error,
 * with *reason (may be NULL) a reason as for proto_request_parse. Free it with
 * proto_message_free. */
char *proto_request_format(const struct proto_request *req, const char **reason);
/* Wipe (strlen bytes) and free a message made or received here. NULL ok. */
void proto_message_free(char *msg);

/* Answer messages, malloc'd and NUL-terminated; free with proto_message_free.
 * proto_answer_ok: {"ok":true} followed by the members of body (an object, or NULL;
 * borrowed), which must not itself hold "ok" or "error". NULL if body is not such an
 * object, the answer would exceed PROTO_ANSWER_MAX, or out of memory. */
char *proto_answer_ok(json_t *body);
/* {"ok":false,"error":reason}; reason is valid UTF-8, 1..PROTO_STRING_MAX bytes. NULL
 * otherwise or out of memory. */
char *proto_answer_error(const char *reason);

/* A parsed answer. */
struct proto_answer {
	bool ok;
	const char *error; /* !ok: the daemon's reason; points into root */
	json_t *root;      /* the whole answer object; ok: the op's results are its members */
};

/* Parse an answer message of len bytes: an object with a boolean "ok"; when false, also
 * an "error" string (1..PROTO_STRING_MAX bytes, no control characters) and no other
 * member; when true, no "error". 0 on success (release with proto_answer_clear); -1 with
 * *reason "daemon answer is malformed", "daemon answer is too large" or "out of
 * memory", and out cleared. */
int proto_answer_parse(const char *buf, size_t len, struct proto_answer *out,
		       const char **reason);
/* Release root and zero the struct. NULL ok. */
void proto_answer_clear(struct proto_answer *ans);

/* Client side: connect to socket_path, send one request message, receive one answer
 * within timeout_ms milliseconds in total (connect, send and receive). *answer is
 * malloc'd and NUL-terminated (free with proto_message_free), *answer_len its length
 * (may be NULL); the answer holds no NUL byte. Never raises SIGPIPE. 0 on success; -1
 * with *reason: "daemon is not running" (no socket, or nobody listening), "permission
 * denied on the daemon socket", "daemon did not answer in time", "daemon closed the
 * connection", "daemon socket is not served by root" (its peer is neither root nor the
 * caller's effective uid), "daemon answer is too large", "daemon answer is malformed", "socket path
 * is invalid", "request too large", "malformed request", "invalid argument" (answer NULL,
 * timeout_ms <= 0), "cannot create a socket", "cannot connect to the daemon", "cannot
 * send the request", "cannot read the answer", "out of memory". */
int proto_call(const char *socket_path, const char *request, size_t request_len,
	       int timeout_ms, char **answer, size_t *answer_len, const char **reason);

/* Server side: the credentials of the peer of a connected AF_UNIX socket (SO_PEERCRED,
 * taken by the kernel at connect time). Each output may be NULL. 0, or -1 with errno. */
int proto_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

/* What proto_peer_account_uid gives for a peer whose ids cannot be read: no user's, and
 * never root's. */
#define PROTO_UID_UNKNOWN ((uid_t)-1)
/* Server side: the user ID a connection counts against in the daemon's per-user limits,
 * for a peer with effective user ID euid and process ID pid (both from SO_PEERCRED). As a
 * rule euid. But a peer that runs as root on a user's behalf, as a set-user-ID program
 * (sudo, su) does, counts as that user, since the user can stop it and so hold its
 * connection: when euid is 0, the real user ID from the "Uid:" line of /proc/PID/status,
 * else the saved one, else the effective one now, whichever first is not 0. If that line cannot be read (no such process, pid
 * 0 from another PID namespace, /proc hidden or not procfs), PROTO_UID_UNKNOWN. Only what
 * a connection is counted against: the caller's permissions stay those of euid. */
uid_t proto_peer_account_uid(pid_t pid, uid_t euid);

enum proto_recv_result {
	PROTO_RECV_MESSAGE,   /* buf holds a request of *len bytes, NUL-terminated */
	PROTO_RECV_TOO_LARGE, /* a message longer than PROTO_REQUEST_MAX was discarded:
			       * answer "request too large", the connection goes on */
	PROTO_RECV_CLOSED,    /* the peer closed the connection (or sent an empty message) */
	PROTO_RECV_ERROR,     /* recvmsg failed (errno kept, EAGAIN included): close */
};
/* Server side: receive one request message from a SOCK_SEQPACKET connection. Blocks or
 * not as the socket does. *len is 0 unless the result is PROTO_RECV_MESSAGE. The caller
 * wipes buf after use (it may hold a credential). */
enum proto_recv_result proto_recv_request(int fd, char buf[PROTO_REQUEST_MAX + 1],
					  size_t *len);

/* For a process of our own only (see the top of this file): make jansson wipe every
 * block it frees. Call once, before any other jansson use. */
void proto_json_wipe_on_free(void);

#endif
