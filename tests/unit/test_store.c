/* The session store: records, limits, JWT ids, locks, gc and every refusal.
 *
 * Each test gets a private store. As root: a private tmpfs mounted on a fresh directory
 * under /tmp (unmounted and removed in teardown). Otherwise a 0700 temporary directory
 * opened with allow_non_tmpfs. Tests that need root are skipped when not root, except
 * under CI=true, where everything runs as root and a missing privilege is a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "leader.h"
#include "redis.h"
#include "store.h"
#include "testutil.h"
#include "verdict.h"

#define NOW 1700000000LL

struct fx {
	char root[64];        /* mkdtemp directory (a tmpfs mount point when root) */
	char dir[128];        /* the store: root/store, or the Redis URL */
	char prefix[48];      /* Redis: this fixture's key namespace */
	int redis;            /* PJ_TEST_STORE_URL names a Redis server to run against */
	int mounted;
	struct store_options opts;
	struct store *st;
};

static int st_is_root(void)
{
	return geteuid() == 0;
}

static int st_in_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && strcmp(ci, "true") == 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *env_or_null(const char *name)
{
	const char *s = getenv(name);

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The same tests against a Redis server (tests/integration/test_store_redis.sh starts
 * one): each fixture gets a key namespace of its own. */
static int fx_setup_redis(struct fx *fx, void **state)
{
	static unsigned serial;
	struct verdict v;

	snprintf(fx->dir, sizeof(fx->dir), "%s", getenv("PJ_TEST_STORE_URL"));
	snprintf(fx->prefix, sizeof(fx->prefix), "test_store.%d.%u", (int)getpid(), ++serial);
	fx->redis = 1;
	fx->opts.redis_prefix = fx->prefix;
	fx->opts.redis_password_file = env_or_null("PJ_TEST_STORE_PASSWORD_FILE");
	fx->opts.redis_ca_file = env_or_null("PJ_TEST_STORE_CA_FILE");
	fx->opts.redis_cert_file = env_or_null("PJ_TEST_STORE_CERT_FILE");
	fx->opts.redis_key_file = env_or_null("PJ_TEST_STORE_KEY_FILE");
	/* the primary through Sentinel (test_redis_sentinel.sh) */
	fx->opts.redis_sentinel = env_or_null("PJ_TEST_STORE_SENTINEL");
	fx->opts.redis_master = env_or_null("PJ_TEST_STORE_MASTER");
	if (env_or_null("PJ_TEST_STORE_REPLICAS") != NULL)
		fx->opts.redis_replicas = atoi(getenv("PJ_TEST_STORE_REPLICAS"));
	verdict_init(&v);
	if (store_open(fx->dir, &fx->opts, &fx->st, &v) != 0) {
		fprintf(stderr, "# store_open(%s): %s %s\n", fx->dir, v.reason, v.detail);
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct verdict v;

	if (fx == NULL)
		return -1;
	if (getenv("PJ_TEST_STORE_URL") != NULL)
		return fx_setup_redis(fx, state);
	snprintf(fx->root, sizeof(fx->root), "/tmp/pjstore.XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		goto fail;
	if (st_is_root()) {
		if (mount("tmpfs", fx->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0700,size=64m") != 0)
			goto fail;
		fx->mounted = 1;
	} else {
		fx->opts.allow_non_tmpfs = true;
	}
	snprintf(fx->dir, sizeof(fx->dir), "%s/store", fx->root);
	if (mkdir(fx->dir, 0700) != 0 || chmod(fx->dir, 0700) != 0)
		goto fail;
	verdict_init(&v);
	if (store_open(fx->dir, &fx->opts, &fx->st, &v) != 0) {
		fprintf(stderr, "# store_open: %s\n", v.reason);
		goto fail;
	}
	*state = fx;
	return 0;
fail:
	if (fx->mounted)
		umount2(fx->root, MNT_DETACH);
	if (fx->root[0] != '\0')
		rm_tree(fx->root);
	free(fx);
	return -1;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx == NULL)
		return 0;
	store_close(fx->st);
	if (fx->mounted && umount2(fx->root, MNT_DETACH) != 0)
		fprintf(stderr, "# umount %s failed\n", fx->root);
	if (fx->root[0] != '\0')
		rm_tree(fx->root);
	free(fx);
	return 0;
}

/* Root-only tests: skipped when not root, a failure under CI (which runs as root). */
static void require_root(void)
{
	if (st_is_root())
		return;
	if (st_in_ci())
		fail_msg("CI=true but not running as root");
	skip();
}

/* Reopen the store with other options. */
static void fx_reopen(struct fx *fx, size_t per_user, size_t total)
{
	struct verdict v;

	store_close(fx->st);
	fx->st = NULL;
	fx->opts.max_sessions_per_user = per_user;
	fx->opts.max_sessions_total = total;
	verdict_init(&v);
	assert_int_equal(store_open(fx->dir, &fx->opts, &fx->st, &v), 0);
}

static void fill(struct store_session *s, const char *user, const char *service)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->tty, sizeof(s->tty), "pts/3");
	snprintf(s->rhost, sizeof(s->rhost), "192.0.2.7");
	s->uid = 1000;
	s->leader_pid = 4242;
	s->created = NOW;
	s->expires = NOW + 3600;
	s->idle_timeout = 0;
	s->last_seen = NOW;
}

/* Put a new session; id gets its ID and digest its record digest (either may be NULL). */
static int put(struct fx *fx, const char *user, const char *service, int64_t expires,
	       int64_t idle, char *id, char *digest, struct verdict *v)
{
	char local_id[STORE_SESSION_ID_LEN + 1];
	struct store_session s;
	int rc;

	fill(&s, user, service);
	s.expires = expires;
	s.idle_timeout = idle;
	assert_int_equal(store_session_id_new(local_id), 0);
	verdict_init(v);
	rc = store_session_put(fx->st, local_id, &s, v);
	if (id != NULL)
		memcpy(id, local_id, sizeof(local_id));
	if (digest != NULL)
		store_digest_hex(local_id, strlen(local_id), digest);
	return rc;
}

static void put_ok(struct fx *fx, const char *user, char *id, char *digest)
{
	struct verdict v;

	if (put(fx, user, "sshd", NOW + 3600, 0, id, digest, &v) != 0)
		fail_msg("put for %s: %s", user, v.reason);
	assert_int_equal(v.code, VERDICT_OK);
}

static int count_cb(const struct store_session *s, void *ctx)
{
	(void)s;
	(*(size_t *)ctx)++;
	return 0;
}

static size_t count_sessions(struct fx *fx, const char *user)
{
	struct verdict v;
	size_t n = 0, bad = 0;

	verdict_init(&v);
	assert_int_equal(store_session_scan(fx->st, user, count_cb, &n, &bad, &v), 0);
	return n;
}

/* ---- the same damage on Redis: a store "file" name maps onto the backend's keys ---- */

/* A command on a fresh connection to the fixture's server; the reply, or NULL. */
static redisReply *rx(const struct fx *fx, int argc, const char **argv)
{
	struct redis_options o = { fx->opts.redis_password_file, fx->opts.redis_ca_file,
				   fx->opts.redis_cert_file, fx->opts.redis_key_file, 2000,
				   fx->opts.redis_sentinel, fx->opts.redis_master };
	struct redis_target t;
	struct redis_conn *c = NULL;
	redisReply *r = NULL;
	struct verdict v;
	const char *reason;
	size_t lens[8];
	int i;

	verdict_init(&v);
	assert_true(argc <= 8);
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (redis_url_parse(fx->dir, &t, &reason) == 0 && redis_connect(&t, &o, &c, &v) == 0)
		(void)redis_command(c, argc, argv, lens, &r, &v);
	redis_close(c);
	assert_non_null(r);
	return r;
}

/* "K-DIGEST" a record of kind K; "i-DIGEST" an owner's index; "c-total" the count. */
static char *redis_read_name(const struct fx *fx, const char *name)
{
	char key[200], *text = NULL;
	const char *get[] = { "GET", key }, *members[] = { "SMEMBERS", key };
	redisReply *r;
	size_t i, n = 0;

	if (strcmp(name, "c-total") == 0) {
		snprintf(key, sizeof(key), "{%s}:K:s", fx->prefix);
		members[0] = "SCARD";
		r = rx(fx, 2, members);
		assert_true(asprintf(&text, "pam_jwt-store 1\nkind=counter\nn=%lld\n", r->integer) > 0);
		freeReplyObject(r);
		return text;
	}
	snprintf(key, sizeof(key), "{%s}:%c:%s", fx->prefix, name[0], name + 2);
	if (name[0] != 'i') {
		r = rx(fx, 2, get);
		if (r->type == REDIS_REPLY_STRING)
			text = strndup(r->str, r->len);
		freeReplyObject(r);
		return text;
	}
	r = rx(fx, 2, members);
	if (r->elements > 0) {
		text = calloc(1, 64 + r->elements * 72);
		assert_non_null(text);
		n = (size_t)sprintf(text, "pam_jwt-store 1\nkind=index\n");
		for (i = 0; i < r->elements; i++)
			n += (size_t)sprintf(text + n, "s=%s\n", r->element[i]->str);
	}
	freeReplyObject(r);
	return text;
}

/* Writing a record puts it and lists it in its kind's set, as a backend write would; a
 * damaged index loses the owner's set; the counter is derived on Redis, so writing it is
 * nothing; any other name is a stray key. */
static void redis_write_name(const struct fx *fx, const char *name, const char *text, size_t len)
{
	char key[200], set[64], body[4096];
	const char *put[] = { "SET", key, body }, *add[] = { "SADD", set, name + 2 };
	const char *del[] = { "DEL", key };
	bool record = strlen(name) == 66 && name[1] == '-' && strchr("srjul", name[0]) != NULL;

	assert_true(len < sizeof(body));
	memcpy(body, text, len);
	body[len] = '\0';
	if (strcmp(name, "c-total") == 0)
		return;
	if (name[0] == 'i' && name[1] == '-') {
		snprintf(key, sizeof(key), "{%s}:i:%s", fx->prefix, name + 2);
		freeReplyObject(rx(fx, 2, del));
		return;
	}
	if (!record) {
		snprintf(key, sizeof(key), "{%s}:stray:%s", fx->prefix, name);
		freeReplyObject(rx(fx, 3, put));
		return;
	}
	snprintf(key, sizeof(key), "{%s}:%c:%s", fx->prefix, name[0], name + 2);
	snprintf(set, sizeof(set), "{%s}:K:%c", fx->prefix, name[0]);
	freeReplyObject(rx(fx, 3, put));
	freeReplyObject(rx(fx, 3, add));
}

static void write_file(const struct fx *fx, const char *name, const char *text, size_t len)
{
	char path[256];
	int fd;

	if (fx->redis) {
		redis_write_name(fx, name, text, len);
		return;
	}

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static char *read_record_file(const struct fx *fx, const char *name)
{
	char path[256];

	if (fx->redis)
		return redis_read_name(fx, name);
	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	return tu_read_file(path, NULL);
}

static void name_of(char name[80], char kind, const char *what, size_t len)
{
	char digest[STORE_DIGEST_HEX_LEN + 1];

	store_digest_hex(what, len, digest);
	snprintf(name, 80, "%c-%s", kind, digest);
}

/* ---- IDs and digests ------------------------------------------------------------------ */

static void test_session_id_shape(void **state)
{
	char id[STORE_SESSION_ID_LEN + 1], id2[STORE_SESSION_ID_LEN + 1], bad[64];
	char digest[STORE_DIGEST_HEX_LEN + 1];
	static const char valid_last[] = "AEIMQUYcgkosw048";
	int i;

	(void)state;
	assert_int_equal(store_session_id_new(id), 0);
	assert_int_equal(store_session_id_new(id2), 0);
	assert_int_equal(strlen(id), STORE_SESSION_ID_LEN);
	assert_memory_equal(id, "pjs_", 4);
	assert_string_not_equal(id, id2);
	assert_true(store_session_id_looks_like(id, strlen(id)));
	assert_false(store_session_id_looks_like(id, strlen(id) - 1));
	assert_false(store_session_id_looks_like(NULL, 47));
	snprintf(bad, sizeof(bad), "%sA", id);
	assert_false(store_session_id_looks_like(bad, strlen(bad)));
	memcpy(bad, id, sizeof(id));
	bad[0] = 'P';
	assert_false(store_session_id_looks_like(bad, strlen(bad)));
	memcpy(bad, id, sizeof(id));
	bad[10] = '+';
	assert_false(store_session_id_looks_like(bad, strlen(bad)));
	memcpy(bad, id, sizeof(id));
	bad[10] = '=';
	assert_false(store_session_id_looks_like(bad, strlen(bad)));
	/* the last character carries 2 spare bits, which must be zero */
	memcpy(bad, id, sizeof(id));
	for (i = 0; i < 64; i++) {
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		bad[46] = alphabet[i];
		assert_int_equal(store_session_id_looks_like(bad, 47),
				 strchr(valid_last, alphabet[i]) != NULL);
	}
	/* an embedded NUL is not a base64url character */
	memcpy(bad, id, sizeof(id));
	bad[20] = '\0';
	assert_false(store_session_id_looks_like(bad, 47));

	store_digest_hex("abc", 3, digest);
	assert_string_equal(digest,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- the codec --------------------------------------------------------------------------- */

static void test_format_parse_round_trip(void **state)
{
	struct store_session s, back;
	char *text;

	(void)state;
	fill(&s, "alice", "sshd");
	s.idle_timeout = 900;
	s.last_seen = NOW + 5;
	snprintf(s.digest, sizeof(s.digest), "%s", "ignored");
	text = store_session_format(&s);
	assert_non_null(text);
	assert_string_equal(text, "pam_jwt-store 1\nkind=session\nuser=alice\nuid=1000\n"
				  "service=sshd\ntty=pts/3\nrhost=192.0.2.7\npid=4242\n"
				  "created=1700000000\nexpires=1700003600\nidle=900\n"
				  "last_seen=1700000005\nleader_start=0\nparent=\norigin_jti=\n"
				  "tokens=0\nowner=alice\nfamily=\n");
	assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
	assert_string_equal(back.digest, "");
	assert_string_equal(back.user, "alice");
	assert_string_equal(back.service, "sshd");
	assert_string_equal(back.tty, "pts/3");
	assert_string_equal(back.rhost, "192.0.2.7");
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.leader_pid, 4242);
	assert_int_equal(back.created, NOW);
	assert_int_equal(back.expires, NOW + 3600);
	assert_int_equal(back.idle_timeout, 900);
	assert_int_equal(back.last_seen, NOW + 5);
	free(text);

	/* the writer refuses what the format cannot hold rather than alter it: control
	 * characters, a field that fills its array (not even NUL-terminated) */
	fill(&s, "bob", "su");
	snprintf(s.rhost, sizeof(s.rhost), "evil\nuser=root\x7f\t");
	assert_null(store_session_format(&s));
	fill(&s, "bob", "su");
	memset(s.tty, 'x', sizeof(s.tty) - 1);
	s.tty[sizeof(s.tty) - 1] = 'y';
	assert_null(store_session_format(&s));
	s.tty[sizeof(s.tty) - 1] = '\0'; /* 255 bytes: the most a field holds */
	text = store_session_format(&s);
	assert_non_null(text);
	assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
	assert_int_equal(strlen(back.tty), STORE_FIELD_MAX - 1);
	free(text);

	/* empty optional strings round-trip */
	fill(&s, "carol", "");
	s.tty[0] = s.rhost[0] = '\0';
	text = store_session_format(&s);
	assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
	assert_string_equal(back.service, "");
	assert_string_equal(back.rhost, "");
	free(text);
}

#define GOOD_BODY                                                                          \
	"uid=1000\nservice=sshd\ntty=pts/3\nrhost=h\npid=1\ncreated=1\nexpires=2\nidle=0\n" \
	"last_seen=1\nleader_start=0\nparent=\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n"

static void test_parse_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"pam_jwt-store 1\n",
		"pam_jwt-store 2\nkind=session\nuser=a\n" GOOD_BODY,
		"pam_jwt-store 1 \nkind=session\nuser=a\n" GOOD_BODY,
		"PAM_JWT-STORE 1\nkind=session\nuser=a\n" GOOD_BODY,
		"pam_jwt-store 1\r\nkind=session\nuser=a\n" GOOD_BODY,
		"kind=session\nuser=a\n" GOOD_BODY,
		"pam_jwt-store 1\nkind=lock\nuser=a\n" GOOD_BODY,            /* wrong kind */
		"pam_jwt-store 1\nuser=a\nkind=session\n" GOOD_BODY,         /* kind not first */
		"pam_jwt-store 1\nkind=session\n" GOOD_BODY,                  /* missing user */
		"pam_jwt-store 1\nkind=session\nuser=\n" GOOD_BODY,           /* empty user */
		"pam_jwt-store 1\nkind=session\nuser=a\nuser=b\n" GOOD_BODY,  /* duplicate */
		"pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY "idle=0\n",
		"pam_jwt-store 1\nkind=session\nkind=session\nuser=a\n" GOOD_BODY,
		"pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY "x=1\n",  /* unknown key */
		"pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY "boot=\n", /* never written */
		"pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY "\n",     /* empty line */
		"pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY "noequals\n",
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=sshd\ntty=pts/3\n"
		"rhost=h\npid=1\ncreated=1\nexpires=2\nidle=0\nlast_seen=1",  /* no final NL */
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=-1\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=1\nexpires=2\nidle=0\nlast_seen=1\n",           /* negative */
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=4294967295\nservice=s\ntty=t\n"
		"rhost=h\npid=1\ncreated=1\nexpires=2\nidle=0\nlast_seen=1\n",  /* uid -1 */
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=2147483648\ncreated=1\nexpires=2\nidle=0\nlast_seen=1\n",  /* pid range */
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=01\nexpires=2\nidle=0\nlast_seen=1\n",          /* leading 0 */
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=+1\nexpires=2\nidle=0\nlast_seen=1\n",
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=1x\nexpires=2\nidle=0\nlast_seen=1\n",
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=\nexpires=2\nidle=0\nlast_seen=1\n",
		"pam_jwt-store 1\nkind=session\nuser=a\nuid=1000\nservice=s\ntty=t\nrhost=h\n"
		"pid=1\ncreated=1\nexpires=9223372036854775808\nidle=0\nlast_seen=1\n",
		"pam_jwt-store 1\nkind=session\nuser=a\tb\n" GOOD_BODY,       /* control char */
		"pam_jwt-store 1\nkind=session\nuser=a\rb\n" GOOD_BODY,
		"pam_jwt-store 1\nkind=session\nuser=a\x7f\n" GOOD_BODY,
		"pam_jwt-store 1\nkind=session\nUser=a\n" GOOD_BODY,
		"pam_jwt-store 1\nkind=session\nuser =a\n" GOOD_BODY,
	};
	char big[1024], nul_text[512];
	struct store_session s;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0x5a, sizeof(s));
		if (store_session_parse(bad[i], strlen(bad[i]), &s) == 0)
			fail_msg("accepted bad record %zu", i);
		assert_string_equal(s.user, ""); /* cleared */
	}
	/* the good one parses, and the largest value is accepted */
	n = (size_t)snprintf(nul_text, sizeof(nul_text),
			     "pam_jwt-store 1\nkind=session\nuser=a\n" GOOD_BODY);
	assert_int_equal(store_session_parse(nul_text, n, &s), 0);
	/* an embedded NUL */
	nul_text[strlen("pam_jwt-store 1\nkind=session\nuser=")] = '\0';
	assert_int_equal(store_session_parse(nul_text, n, &s), -1);
	/* a value of 255 bytes is fine, 256 is not; a line over 512 bytes is refused */
	for (i = 0; i < 3; i++) {
		static const size_t sizes[] = { 255, 256, 600 };
		char field[700];
		size_t fl = sizes[i];

		memset(field, 'u', fl);
		field[fl] = '\0';
		n = (size_t)snprintf(big, sizeof(big), "pam_jwt-store 1\nkind=session\nuser=%s\n"
				     GOOD_BODY, field);
		assert_int_equal(store_session_parse(big, n, &s), fl == 255 ? 0 : -1);
	}
	assert_int_equal(store_session_parse(NULL, 0, &s), -1);
	assert_null(store_session_format(NULL));
}

/* Text values: UTF-8 without control characters (C0, DEL, C1), in the parser and the
 * writer alike, so every field is a valid JSON string and safe on a terminal. */
static const char *const bad_text[] = {
	"tty\xff",                 /* not UTF-8 */
	"a\x1b[31m",               /* ESC */
	"a\xc2\x9b" "31m",          /* C1 CSI, well-formed UTF-8 */
	"a\xc2\x85" "b",            /* C1 NEL */
	"a\xc0\xaf",               /* overlong '/' */
	"a\xe0\x80\xaf",           /* overlong, 3 bytes */
	"a\xf0\x80\x80\xaf",       /* overlong, 4 bytes */
	"a\xed\xa0\x80",           /* surrogate */
	"a\xf4\x90\x80\x80",       /* past U+10FFFF */
	"a\xc3",                   /* cut short */
	"a\xe2\x82",
	"a\x80",                   /* lone continuation */
	"a\xf8\x88\x80\x80\x80",   /* 5-byte form */
};

static const char *const good_text[] = {
	"tty??[31m", "jos\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91", "\xf4\x8f\xbf\xbf",
	"a b", "\xc2\xa0", "~",
};

static void test_text_fields(void **state)
{
	static const char *const keys[] = { "user", "service", "tty", "rhost" };
	char rec[1024];
	struct store_session s, back;
	char *text, *field;
	json_t *json;
	size_t i, k, n;

	(void)state;
	for (k = 0; k < 4; k++) {
		for (i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
			/* a record file holding it does not parse */
			n = (size_t)snprintf(rec, sizeof(rec),
					     "pam_jwt-store 1\nkind=session\nuser=%s\nuid=1000\n"
					     "service=%s\ntty=%s\nrhost=%s\npid=1\ncreated=1\n"
					     "expires=2\nidle=0\nlast_seen=1\nleader_start=0\n"
					     "parent=\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n",
					     k == 0 ? bad_text[i] : "a", k == 1 ? bad_text[i] : "s",
					     k == 2 ? bad_text[i] : "t", k == 3 ? bad_text[i] : "h");
			memset(&back, 0x5a, sizeof(back));
			if (store_session_parse(rec, n, &back) == 0)
				fail_msg("parsed %s=<bad text %zu>", keys[k], i);
			assert_string_equal(back.user, "");
			/* and the writer refuses it */
			fill(&s, "alice", "sshd");
			field = k == 0 ? s.user : k == 1 ? s.service : k == 2 ? s.tty : s.rhost;
			snprintf(field, STORE_FIELD_MAX, "%s", bad_text[i]);
			text = store_session_format(&s);
			if (text != NULL)
				fail_msg("formatted %s=<bad text %zu>: %s", keys[k], i, text);
		}
		for (i = 0; i < sizeof(good_text) / sizeof(good_text[0]); i++) {
			fill(&s, "alice", "sshd");
			field = k == 0 ? s.user : k == 1 ? s.service : k == 2 ? s.tty : s.rhost;
			snprintf(field, STORE_FIELD_MAX, "%s", good_text[i]);
			text = store_session_format(&s);
			if (text == NULL)
				fail_msg("refused %s=<good text %zu>", keys[k], i);
			assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
			assert_string_equal(k == 0 ? back.user : k == 1 ? back.service :
					    k == 2 ? back.tty : back.rhost, good_text[i]);
			free(text);
			/* what the store holds is a JSON string (jansson checks UTF-8) */
			json = json_string(good_text[i]);
			assert_non_null(json);
			json_decref(json);
		}
	}
	/* the refresh codec too */
	{
		struct store_refresh r;

		memset(&r, 0, sizeof(r));
		memset(r.session, 'a', STORE_DIGEST_HEX_LEN);
		snprintf(r.user, sizeof(r.user), "al\xffice");
		r.uid = 1000;
		r.expires = NOW;
		assert_null(store_refresh_format(&r));
		n = (size_t)snprintf(rec, sizeof(rec),
				     "pam_jwt-store 1\nkind=refresh\nsession=%s\nuser=al\xffice\n"
				     "uid=1000\ncreated=1\nexpires=2\nused=0\nnext=\n", r.session);
		assert_int_equal(store_refresh_parse(rec, n, &r), -1);
	}
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void test_create_lookup_use(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session s;
	struct verdict v;

	put_ok(fx, "alice", id, digest);
	verdict_init(&v);
	assert_int_equal(store_session_get(fx->st, id, &s, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_string_equal(s.digest, digest);
	assert_string_equal(s.user, "alice");
	assert_string_equal(s.service, "sshd");
	assert_int_equal(s.uid, 1000);
	assert_int_equal(s.leader_pid, 4242);
	assert_int_equal(s.last_seen, NOW);

	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", true, NOW + 10, &s, &v),
			 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(s.last_seen, NOW + 10);
	assert_int_equal(store_session_get_digest(fx->st, digest, &s, &v), 0);
	assert_int_equal(s.last_seen, NOW + 10);
	assert_string_equal(s.digest, digest);

	/* unknown IDs, malformed IDs and malformed digests */
	assert_int_equal(store_session_id_new(id), 0);
	assert_int_equal(store_session_get(fx->st, id, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	assert_int_equal(store_session_get(fx->st, "pjs_short", &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	assert_int_equal(store_session_use(fx->st, "../../etc/passwd", "alice", NULL, false, NOW,
					   &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	assert_int_equal(store_session_get_digest(fx->st, "ABCDEF", &s, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "not a session digest");

	/* the same ID twice is refused */
	{
		char id2[STORE_SESSION_ID_LEN + 1];
		struct store_session s2;

		put_ok(fx, "alice", id2, NULL);
		fill(&s2, "alice", "sshd");
		assert_int_equal(store_session_put(fx->st, id2, &s2, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "session already exists");
		assert_int_equal(store_session_put(fx->st, "pjs_nope", &s2, &v), -1);
		assert_verdict(&v, VERDICT_BAD_CONFIG, "session ID is malformed");
		fill(&s2, "", "sshd");
		assert_int_equal(store_session_id_new(id2), 0);
		assert_int_equal(store_session_put(fx->st, id2, &s2, &v), -1);
		assert_verdict(&v, VERDICT_BAD_CONFIG, "session fields are invalid");
		fill(&s2, "ali\nce", "sshd");
		assert_int_equal(store_session_put(fx->st, id2, &s2, &v), -1);
		assert_verdict(&v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
	}
	assert_int_equal(count_sessions(fx, NULL), 2);
}

static void test_expired(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1];
	struct store_session s;
	struct verdict v;

	assert_int_equal(put(fx, "alice", "sshd", NOW + 100, 0, id, NULL, &v), 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", false, NOW + 99, &s, &v),
			 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", false, NOW + 100, &s, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "session expired");
	assert_string_equal(v.detail, "0 s ago");
	assert_string_equal(s.user, ""); /* nothing handed out on refusal */
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", false, INT64_MAX, &s, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "session expired");
}

static void test_idle(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1];
	struct store_session s;
	struct verdict v;

	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 60, id, NULL, &v), 0);
	/* exactly the limit is fine and refreshes last_seen */
	assert_int_equal(store_session_use(fx->st, id, "alice", NULL, false, NOW + 60, &s, &v), 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", NULL, false, NOW + 120, &s, &v),
			 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", NULL, false, NOW + 181, &s, &v),
			 -1);
	assert_verdict(&v, VERDICT_REJECT, "session is idle past its limit");
	/* the refusal did not refresh it */
	assert_int_equal(store_session_get(fx->st, id, &s, &v), 0);
	assert_int_equal(s.last_seen, NOW + 120);
	/* a clock before last_seen is not "idle" and cannot overflow */
	assert_int_equal(store_session_use(fx->st, id, "alice", NULL, false, INT64_MIN, &s, &v),
			 0);
}

static void test_wrong_user_and_service(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1];
	struct store_session s;
	struct verdict v;

	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, id, NULL, &v), 0);
	assert_int_equal(store_session_use(fx->st, id, "bob", "sshd", false, NOW, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session belongs to another user");
	assert_int_equal(store_session_use(fx->st, id, "alicex", "sshd", false, NOW, &s, &v), -1);
	assert_int_equal(store_session_use(fx->st, id, "alic", "sshd", false, NOW, &s, &v), -1);
	assert_int_equal(store_session_use(fx->st, id, "alice", "sudo", true, NOW, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session is bound to another service");
	assert_int_equal(store_session_use(fx->st, id, "alice", "sudo", false, NOW, &s, &v), 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", NULL, true, NOW, &s, &v), 0);
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", true, NOW, &s, &v), 0);
}

static void test_delete(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	char iname[80], *text;
	struct store_session s;
	struct verdict v;

	put_ok(fx, "alice", id, digest);
	put_ok(fx, "alice", NULL, NULL);
	name_of(iname, 'i', "alice", 5);
	text = read_record_file(fx, iname);
	assert_non_null(text);
	assert_non_null(strstr(text, digest));
	free(text);

	verdict_init(&v);
	assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
	assert_int_equal(store_session_get(fx->st, id, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "unknown session");
	text = read_record_file(fx, iname);
	assert_non_null(text);
	assert_null(strstr(text, digest));
	free(text);
	text = read_record_file(fx, "c-total");
	assert_non_null(text);
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=1\n");
	free(text);
	/* idempotent */
	assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=1\n");
	free(text);
	assert_int_equal(store_session_delete(fx->st, "../c-total", &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "not a session digest");
	assert_int_equal(count_sessions(fx, NULL), 1);
}

static void test_revoke_user(void **state)
{
	struct fx *fx = *state;
	char ids[3][STORE_SESSION_ID_LEN + 1], bob[STORE_SESSION_ID_LEN + 1], iname[80];
	struct store_session s;
	struct verdict v;
	size_t n = 99;
	int i;

	for (i = 0; i < 3; i++)
		put_ok(fx, "alice", ids[i], NULL);
	put_ok(fx, "bob", bob, NULL);
	put_ok(fx, "bob", NULL, NULL);
	/* a crash lost alice's index: revoking must still find every session */
	name_of(iname, 'i', "alice", 5);
	write_file(fx, iname, "junk", 4);
	verdict_init(&v);
	assert_int_equal(store_revoke_user(fx->st, "alice", NULL, NULL, &n, &v), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(store_session_get(fx->st, ids[i], &s, &v), -1);
	assert_int_equal(store_session_get(fx->st, bob, &s, &v), 0);
	assert_int_equal(count_sessions(fx, "alice"), 0);
	assert_int_equal(count_sessions(fx, "bob"), 2);
	assert_int_equal(count_sessions(fx, NULL), 2);
	assert_int_equal(store_revoke_user(fx->st, "nobody-here", NULL, NULL, &n, &v), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_revoke_user(fx->st, "", NULL, NULL, &n, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "user name is invalid");
	/* the root shell bob opened with sudo is recorded as root's, owned by bob: revoking
	 * bob (and lock --end-logins bob) takes it too, and leaves root's own session */
	fill(&s, "root", "sudo");
	snprintf(s.owner, sizeof(s.owner), "bob");
	assert_int_equal(store_session_id_new(ids[0]), 0);
	assert_int_equal(store_session_put(fx->st, ids[0], &s, &v), 0);
	put_ok(fx, "root", ids[1], NULL);
	assert_int_equal(store_revoke_user(fx->st, "bob", NULL, NULL, &n, &v), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_session_get(fx->st, ids[0], &s, &v), -1);
	assert_int_equal(store_session_get(fx->st, ids[1], &s, &v), 0);
}

static void test_resolve_prefix(void **state)
{
	struct fx *fx = *state;
	char digest[STORE_DIGEST_HEX_LEN + 1], other[STORE_DIGEST_HEX_LEN + 1];
	char out[STORE_DIGEST_HEX_LEN + 1], prefix[16], name[80], twin[80], *text;
	struct verdict v;
	size_t len;

	put_ok(fx, "alice", NULL, digest);
	put_ok(fx, "bob", NULL, other);
	verdict_init(&v);
	memcpy(prefix, digest, 8);
	prefix[8] = '\0';
	assert_int_equal(store_session_resolve_prefix(fx->st, prefix, out, &v), 0);
	assert_string_equal(out, digest);
	assert_int_equal(store_session_resolve_prefix(fx->st, digest, out, &v), 0);
	assert_string_equal(out, digest);
	/* upper-case hex is accepted */
	for (len = 0; len < 8; len++)
		prefix[len] = (char)(prefix[len] >= 'a' ? prefix[len] - 32 : prefix[len]);
	assert_int_equal(store_session_resolve_prefix(fx->st, prefix, out, &v), 0);
	assert_string_equal(out, digest);

	prefix[7] = '\0';
	assert_int_equal(store_session_resolve_prefix(fx->st, prefix, out, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "session prefix too short");
	assert_string_equal(out, "");
	assert_int_equal(store_session_resolve_prefix(fx->st, "zzzzzzzzz", out, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
	/* no match */
	snprintf(prefix, sizeof(prefix), "%.8s", digest);
	prefix[0] = prefix[0] == '0' ? '1' : '0';
	if (strncmp(prefix, other, 8) != 0) {
		assert_int_equal(store_session_resolve_prefix(fx->st, prefix, out, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "no session");
	}
	/* ambiguous: a second record whose name shares the first 63 hex digits */
	snprintf(name, sizeof(name), "s-%s", digest);
	text = read_record_file(fx, name);
	assert_non_null(text);
	snprintf(twin, sizeof(twin), "s-%s", digest);
	twin[65] = twin[65] == '0' ? '1' : '0';
	write_file(fx, twin, text, strlen(text));
	free(text);
	snprintf(prefix, sizeof(prefix), "%.12s", digest);
	assert_int_equal(store_session_resolve_prefix(fx->st, prefix, out, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "prefix is ambiguous");
	assert_int_equal(store_session_resolve_prefix(fx->st, digest, out, &v), 0);
	assert_string_equal(out, digest);
}

struct scan_ctx {
	size_t n, stop_after;
	int bad_digest;
};

static int scan_cb(const struct store_session *s, void *ctx)
{
	struct scan_ctx *c = ctx;

	if (strlen(s->digest) != STORE_DIGEST_HEX_LEN)
		c->bad_digest = 1;
	c->n++;
	return c->stop_after != 0 && c->n >= c->stop_after;
}

static void test_scan(void **state)
{
	struct fx *fx = *state;
	struct scan_ctx c;
	struct verdict v;
	size_t bad = 99;
	char name[80];
	int i;

	for (i = 0; i < 3; i++)
		put_ok(fx, "alice", NULL, NULL);
	put_ok(fx, "bob", NULL, NULL);
	/* an unreadable record and stray files that are not session names */
	name_of(name, 's', "garbage", 7);
	write_file(fx, name, "garbage\n", 8);
	write_file(fx, "s-1234", "x", 1);
	write_file(fx, "notes.txt", "x", 1);
	verdict_init(&v);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_session_scan(fx->st, NULL, scan_cb, &c, &bad, &v), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(bad, 1);
	assert_false(c.bad_digest);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_session_scan(fx->st, "alice", scan_cb, &c, NULL, &v), 0);
	assert_int_equal(c.n, 3);
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_session_scan(fx->st, NULL, scan_cb, &c, NULL, &v), 0);
	assert_int_equal(c.n, 2);
}

/* A session remembers the boot (host) its leader runs under: at a limit, a session whose
 * leader pid is gone here is dropped only if it was opened here; another host's is not
 * ours to judge. A boot id that is not 32 hex digits makes the record unreadable. */
static void test_leader_boot(void **state)
{
	struct fx *fx = *state;
	char here[LEADER_BOOT_LEN + 1], id[3][STORE_SESSION_ID_LEN + 1];
	char *text, *bad;
	struct store_session s, back;
	struct verdict v;
	int64_t start;
	pid_t dead;
	int i, status;

	assert_int_equal(leader_boot_id(here), 0);
	assert_int_equal(strlen(here), LEADER_BOOT_LEN);
	assert_true(leader_is_here(here));
	assert_true(leader_is_here(""));
	assert_false(leader_is_here("0123456789abcdef0123456789abcdef"));
	/* another pid namespace on the same kernel is another scope (a container) */
	if (geteuid() == 0) {
		char there[LEADER_BOOT_LEN + 1] = "";
		int fds[2];
		pid_t child;

		assert_int_equal(pipe(fds), 0);
		/* a child enters the namespace for its own children; this process stays */
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			char mine[LEADER_BOOT_LEN + 1];
			pid_t inner;
			int st = 1;

			if (unshare(CLONE_NEWPID) != 0 || (inner = fork()) < 0)
				_exit(1);
			if (inner == 0)
				_exit(leader_boot_id(mine) == 0 &&
				      write(fds[1], mine, LEADER_BOOT_LEN) == LEADER_BOOT_LEN ? 0 : 1);
			_exit(waitpid(inner, &st, 0) == inner && st == 0 ? 0 : 1);
		}
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_int_equal(status, 0);
		assert_int_equal(read(fds[0], there, LEADER_BOOT_LEN), LEADER_BOOT_LEN);
		close(fds[0]);
		close(fds[1]);
		assert_string_not_equal(there, here);
		assert_false(leader_is_here(there));
	} else if (st_in_ci()) {
		fail_msg("CI=true but not running as root");
	}
	/* a process that has come and gone: its pid names nothing here now */
	dead = fork();
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	start = 1;
	fx_reopen(fx, 2, 0);
	for (i = 0; i < 2; i++) {
		fill(&s, "alice", "sshd");
		s.leader_pid = dead;
		s.leader_start = start;
		snprintf(s.boot, sizeof(s.boot), "%s",
			 i == 0 ? "0123456789abcdef0123456789abcdef" : here);
		assert_int_equal(store_session_id_new(id[i]), 0);
		verdict_init(&v);
		assert_int_equal(store_session_put(fx->st, id[i], &s, &v), 0);
	}
	/* at the limit: the local session with the gone leader makes room, the other host's
	 * stays */
	put_ok(fx, "alice", id[2], NULL);
	assert_int_equal(store_session_get(fx->st, id[0], &back, &v), 0);
	assert_string_equal(back.boot, "0123456789abcdef0123456789abcdef");
	assert_int_equal(store_session_get(fx->st, id[1], &back, &v), -1);
	assert_int_equal(count_sessions(fx, "alice"), 2);
	/* the record format keeps the boot, and refuses a malformed one */
	fill(&s, "alice", "sshd");
	snprintf(s.boot, sizeof(s.boot), "%s", here);
	text = store_session_format(&s);
	assert_non_null(text);
	assert_int_equal(store_session_parse(text, strlen(text), &back), 0);
	assert_string_equal(back.boot, here);
	bad = strstr(text, "boot=");
	assert_non_null(bad);
	{
		/* no boot, no line: such a record reads back as it was */
		struct store_session plain;
		char *t2;

		fill(&plain, "alice", "sshd");
		t2 = store_session_format(&plain);
		assert_non_null(t2);
		assert_null(strstr(t2, "boot="));
		assert_int_equal(store_session_parse(t2, strlen(t2), &back), 0);
		assert_string_equal(back.boot, "");
		free(t2);
	}
	bad[5] = 'X';
	assert_int_equal(store_session_parse(text, strlen(text), &back), -1);
	free(text);
}

/* bind_host: a session stands only on the host whose name it recorded; a record without
 * one never does. Without bind_host the name is not looked at. */
static void test_bind_host(void **state)
{
	struct fx *fx = *state;
	static const char *const hosts[] = { "", "elsewhere", "HERE" };
	char ids[4][STORE_SESSION_ID_LEN + 1], here[256];
	struct store_session s, got;
	struct verdict v;
	size_t i;

	assert_int_equal(leader_host_name(here, sizeof(here)), 0);
	assert_true(leader_host_is(here));
	assert_false(leader_host_is(""));
	for (i = 0; i < 4; i++) {
		fill(&s, "alice", "sshd");
		snprintf(s.host, sizeof(s.host), "%s", i < 3 ? hosts[i] : here);
		assert_int_equal(store_session_id_new(ids[i]), 0);
		assert_int_equal(store_session_put(fx->st, ids[i], &s, &v), 0);
		assert_int_equal(store_session_get(fx->st, ids[i], &got, &v), 0);
		assert_string_equal(got.host, s.host);
		assert_int_equal(store_session_use(fx->st, ids[i], "alice", "sshd", false, NOW, &got,
						   &v), 0);
	}
	fx->opts.bind_host = true;
	fx_reopen(fx, fx->opts.max_sessions_per_user, fx->opts.max_sessions_total);
	for (i = 0; i < 3; i++) {
		assert_int_equal(store_session_use(fx->st, ids[i], "alice", "sshd", false, NOW, &got,
						   &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "session is bound to another host");
	}
	assert_int_equal(store_session_use(fx->st, ids[3], "alice", "sshd", false, NOW, &got, &v),
			 0);
	assert_int_equal(store_session_check(fx->st, &got, "alice", NULL, false, NOW, &v), 0);
	snprintf(got.host, sizeof(got.host), "elsewhere");
	assert_int_equal(store_session_check(fx->st, &got, "alice", NULL, false, NOW, &v), -1);
	fx->opts.bind_host = false;
}

/* ---- capacity -------------------------------------------------------------------------------- */

static void test_capacity_per_user(void **state)
{
	struct fx *fx = *state;
	char ids[3][STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session s;
	struct verdict v;
	int i;

	fx_reopen(fx, 2, 0);
	put_ok(fx, "alice", ids[0], digest);
	put_ok(fx, "alice", ids[1], NULL);
	for (i = 0; i < 3; i++) {
		assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	}
	/* nothing was evicted */
	assert_int_equal(store_session_get(fx->st, ids[0], &s, &v), 0);
	assert_int_equal(store_session_get(fx->st, ids[1], &s, &v), 0);
	assert_int_equal(count_sessions(fx, "alice"), 2);
	/* other users are not affected */
	put_ok(fx, "bob", NULL, NULL);
	put_ok(fx, "bob", NULL, NULL);
	/* deleting one frees one slot, exactly */
	assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
	put_ok(fx, "alice", ids[2], NULL);
	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	assert_int_equal(count_sessions(fx, "alice"), 2);
	assert_int_equal(count_sessions(fx, NULL), 4);
}

static void test_capacity_total(void **state)
{
	struct fx *fx = *state;
	char digests[3][STORE_DIGEST_HEX_LEN + 1], *text;
	struct verdict v;
	int i;

	fx_reopen(fx, 0, 3);
	put_ok(fx, "alice", NULL, digests[0]);
	put_ok(fx, "bob", NULL, digests[1]);
	put_ok(fx, "carol", NULL, digests[2]);
	assert_int_equal(put(fx, "dave", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session store is full");
	assert_int_equal(count_sessions(fx, NULL), 3);
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=3\n");
	free(text);

	assert_int_equal(store_session_delete(fx->st, digests[1], &v), 0);
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=2\n");
	free(text);
	put_ok(fx, "dave", NULL, NULL);
	assert_int_equal(put(fx, "erin", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session store is full");

	/* counter missing or garbage: recounted under the lock, still exact */
	write_file(fx, "c-total", "garbage", 7);
	assert_int_equal(put(fx, "erin", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "the session store is full");
	if (fx->redis) {
		/* the counter is the size of a set: nothing of it lives in a file */
		assert_int_equal(store_session_delete(fx->st, digests[0], &v), 0);
		put_ok(fx, "erin", NULL, NULL);
		assert_int_equal(put(fx, "frank", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "the session store is full");
		return;
	}
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=3\n");
	free(text);
	assert_int_equal(store_session_delete(fx->st, digests[0], &v), 0);
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/c-total", fx->dir);
		assert_int_equal(unlink(path), 0);
	}
	put_ok(fx, "erin", NULL, NULL);
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=3\n");
	free(text);
	/* a counter that drifted high (crash after a delete) is corrected before refusing */
	assert_int_equal(store_session_delete(fx->st, digests[2], &v), 0);
	write_file(fx, "c-total", "pam_jwt-store 1\nkind=counter\nn=50\n", 34);
	put_ok(fx, "frank", NULL, NULL);
	assert_int_equal(count_sessions(fx, NULL), 3);
	for (i = 0; i < 2; i++) {
		assert_int_equal(put(fx, "gina", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "the session store is full");
	}
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=3\n");
	free(text);
}

/* Concurrent puts from several processes never exceed the limits. */
static void test_capacity_concurrent(void **state)
{
	struct fx *fx = *state;
	pid_t pids[8];
	int i, status, ok = 0;

	fx_reopen(fx, 3, 5);
	for (i = 0; i < 8; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *st = NULL;
			struct store_session s;
			char id[STORE_SESSION_ID_LEN + 1];
			struct verdict v;
			int rc;

			verdict_init(&v);
			if (store_open(fx->dir, &fx->opts, &st, &v) != 0)
				_exit(2);
			fill(&s, i % 2 ? "alice" : "bob", "sshd");
			if (store_session_id_new(id) != 0)
				_exit(2);
			rc = store_session_put(st, id, &s, &v);
			store_close(st);
			_exit(rc == 0 ? 0 : v.code == VERDICT_REJECT ? 1 : 2);
		}
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		ok += WEXITSTATUS(status) == 0;
	}
	assert_int_equal(ok, 5);
	assert_int_equal(count_sessions(fx, NULL), 5);
	assert_true(count_sessions(fx, "alice") <= 3);
	assert_true(count_sessions(fx, "bob") <= 3);
}

/* ---- JWT ids ------------------------------------------------------------------------------------ */

static void test_jti_revoke(void **state)
{
	struct fx *fx = *state;
	struct verdict v;
	size_t removed = 9;

	verdict_init(&v);
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(store_jti_revoke(fx->st, "jti-1", NOW + 100, &v), 0);
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "token id is revoked");
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW + 100, &v), -1);
	assert_int_equal(store_jti_check(fx->st, "jti-2", NOW, &v), 0);
	/* revoking again with an earlier exp does not shorten it */
	assert_int_equal(store_jti_revoke(fx->st, "jti-1", NOW + 10, &v), 0);
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW + 50, &v), -1);
	/* past exp the record is garbage */
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW + 101, &v), 0);
	assert_int_equal(store_gc(fx->st, NOW + 100, NULL, NULL, &removed, &v), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(store_gc(fx->st, NOW + 101, NULL, NULL, &removed, &v), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_jti_check(fx->st, "jti-1", NOW, &v), 0);
	assert_int_equal(store_jti_revoke(fx->st, "", NOW, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
}

static void test_jti_use_once(void **state)
{
	struct fx *fx = *state;
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "j1", NOW + 60, NOW, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "j1", NOW + 60, NOW + 1, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "token was already used");
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "j1", NOW + 60, NOW + 60, &v), -1);
	/* another service is another use */
	assert_int_equal(store_jti_use_once(fx->st, "sudo", "j1", NOW + 60, NOW, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "sudo", "j1", NOW + 60, NOW, &v), -1);
	/* "ab"+"c" and "a"+"bc" are different pairs */
	assert_int_equal(store_jti_use_once(fx->st, "ab", "c", NOW + 60, NOW, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "a", "bc", NOW + 60, NOW, &v), 0);
	/* after exp the old record no longer counts */
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "j1", NOW + 200, NOW + 61, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "j1", NOW + 200, NOW + 62, &v), -1);
	assert_int_equal(store_jti_use_once(fx->st, NULL, "j9", NOW + 60, NOW, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, NULL, "j9", NOW + 60, NOW, &v), -1);
}

static void test_jti_use_once_concurrent(void **state)
{
	struct fx *fx = *state;
	pid_t pids[10];
	int i, status, ok = 0;

	for (i = 0; i < 10; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct store *st = NULL;
			struct verdict v;
			int rc;

			verdict_init(&v);
			if (store_open(fx->dir, &fx->opts, &st, &v) != 0)
				_exit(2);
			rc = store_jti_use_once(st, "sshd", "race", NOW + 60, NOW, &v);
			store_close(st);
			_exit(rc == 0 ? 0 : v.code == VERDICT_REJECT ? 1 : 2);
		}
	}
	for (i = 0; i < 10; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		ok += WEXITSTATUS(status) == 0;
	}
	assert_int_equal(ok, 1);
}

/* ---- user locks ---------------------------------------------------------------------------------- */

static void test_user_lock(void **state)
{
	struct fx *fx = *state;
	struct verdict v;
	size_t removed = 0;

	verdict_init(&v);
	assert_int_equal(store_user_check(fx->st, "alice", NOW, &v), 0);
	assert_int_equal(store_user_lock(fx->st, "alice", 0, &v), 0);
	assert_int_equal(store_user_check(fx->st, "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	assert_int_equal(store_user_check(fx->st, "alice", INT64_MAX, &v), -1);
	assert_int_equal(store_user_check(fx->st, "bob", NOW, &v), 0);
	assert_int_equal(store_user_unlock(fx->st, "alice", &v), 0);
	assert_int_equal(store_user_check(fx->st, "alice", NOW, &v), 0);
	assert_int_equal(store_user_unlock(fx->st, "alice", &v), 0); /* idempotent */

	assert_int_equal(store_user_lock(fx->st, "alice", NOW + 100, &v), 0);
	assert_int_equal(store_user_check(fx->st, "alice", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
	assert_string_equal(v.detail, "for 100 s");
	assert_int_equal(store_user_check(fx->st, "alice", NOW + 99, &v), -1);
	assert_int_equal(store_user_check(fx->st, "alice", NOW + 100, &v), 0);
	assert_int_equal(store_user_check(fx->st, "alice", INT64_MIN, &v), -1);
	assert_int_equal(store_user_lock(fx->st, "bob", 0, &v), 0);
	assert_int_equal(store_gc(fx->st, NOW + 101, NULL, NULL, &removed, &v), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_user_check(fx->st, "bob", NOW + 101, &v), -1);
	assert_int_equal(store_user_lock(fx->st, "a\nb", 0, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "user name is invalid");
	assert_int_equal(store_user_check(fx->st, NULL, NOW, &v), -1);
	assert_int_equal(v.code, VERDICT_BAD_CONFIG);
}

/* ---- gc ------------------------------------------------------------------------------------------------ */

static void test_gc(void **state)
{
	struct fx *fx = *state;
	char live[STORE_SESSION_ID_LEN + 1], dead[STORE_SESSION_ID_LEN + 1];
	char idle[STORE_SESSION_ID_LEN + 1], iname[80], *text;
	struct store_session s;
	struct verdict v;
	size_t removed = 99;

	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, live, NULL, &v), 0);
	assert_int_equal(put(fx, "alice", "sshd", NOW + 50, 0, dead, NULL, &v), 0);
	assert_int_equal(put(fx, "bob", "sshd", NOW + 3600, 30, idle, NULL, &v), 0);
	assert_int_equal(store_jti_revoke(fx->st, "old", NOW + 10, &v), 0);
	assert_int_equal(store_jti_revoke(fx->st, "new", NOW + 1000, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "u-old", NOW + 10, NOW, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "u-new", NOW + 1000, NOW, &v), 0);
	assert_int_equal(store_user_lock(fx->st, "l-old", NOW + 10, &v), 0);
	assert_int_equal(store_user_lock(fx->st, "l-forever", 0, &v), 0);
	write_file(fx, ".tmp.0123456789abcdef", "half a record", 13);

	assert_int_equal(store_gc(fx->st, NOW, NULL, NULL, &removed, &v), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(store_gc(fx->st, NOW + 60, NULL, NULL, &removed, &v), 0);
	assert_int_equal(v.code, VERDICT_OK);
	assert_int_equal(removed, 5); /* dead, idle, old jti, old use, old lock */
	assert_int_equal(store_session_get(fx->st, live, &s, &v), 0);
	assert_int_equal(store_session_get(fx->st, dead, &s, &v), -1);
	assert_int_equal(store_session_get(fx->st, idle, &s, &v), -1);
	assert_int_equal(store_jti_check(fx->st, "new", NOW + 60, &v), -1);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", "u-new", NOW + 1000, NOW + 60, &v),
			 -1);
	assert_int_equal(store_user_check(fx->st, "l-forever", NOW + 60, &v), -1);
	text = read_record_file(fx, "c-total");
	assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=1\n");
	free(text);
	text = read_record_file(fx, ".tmp.0123456789abcdef");
	assert_null(text);
	/* bob's index went with his only session; alice's holds one entry */
	name_of(iname, 'i', "bob", 3);
	assert_null(read_record_file(fx, iname));
	name_of(iname, 'i', "alice", 5);
	text = read_record_file(fx, iname);
	assert_non_null(text);
	assert_int_equal(strlen(text), strlen(fx->redis ? "pam_jwt-store 1\nkind=index\n" :
				       "pam_jwt-store 1\nkind=index\nuser=alice\n") + 67);
	free(text);
	assert_int_equal(count_sessions(fx, NULL), 1);
}

/* Crash leftovers: an index with an entry for a gone session, a session missing from its
 * index. Limits stay exact, gc repairs the index. */
static void test_crash_tolerance(void **state)
{
	struct fx *fx = *state;
	char d1[STORE_DIGEST_HEX_LEN + 1], d2[STORE_DIGEST_HEX_LEN + 1];
	char name[256], iname[80], *text;
	struct verdict v;
	size_t removed = 0;

	fx_reopen(fx, 2, 0);
	put_ok(fx, "alice", NULL, d1);
	put_ok(fx, "alice", NULL, d2);
	/* the session record of d1 vanished, its index entry stayed */
	snprintf(name, sizeof(name), "%s/s-%s", fx->dir, d1);
	assert_int_equal(unlink(name), 0);
	put_ok(fx, "alice", NULL, NULL); /* stale entry pruned: 1 live + 1 new */
	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	assert_int_equal(count_sessions(fx, "alice"), 2);
	/* an index that does not parse is rebuilt by a scan */
	name_of(iname, 'i', "alice", 5);
	write_file(fx, iname, "pam_jwt-store 1\nkind=index\n", 27);
	assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
	/* an index entry pointing nowhere is dropped by gc */
	assert_int_equal(store_session_delete(fx->st, d2, &v), 0);
	text = read_record_file(fx, iname);
	assert_non_null(text);
	{
		size_t len = strlen(text);
		char *patched = malloc(len + 80);

		assert_non_null(patched);
		memcpy(patched, text, len);
		snprintf(patched + len, 80, "s=%s\n", d1);
		write_file(fx, iname, patched, strlen(patched));
		free(patched);
	}
	free(text);
	assert_int_equal(store_gc(fx->st, NOW, NULL, NULL, &removed, &v), 0);
	text = read_record_file(fx, iname);
	assert_non_null(text);
	assert_null(strstr(text, d1));
	free(text);
	assert_int_equal(count_sessions(fx, "alice"), 1);

	/* a writer killed between the session record and its index and counter: the intent
	 * it left makes the next writer repair both, so the limits stay exact */
	{
		char id[STORE_SESSION_ID_LEN + 1], sname[80], intent[256], *copy;
		int len;

		put_ok(fx, "alice", id, NULL);
		assert_int_equal(count_sessions(fx, "alice"), 2);
		name_of(sname, 's', id, strlen(id));
		copy = read_record_file(fx, sname);
		assert_non_null(copy);
		assert_int_equal(store_session_delete(fx->st, d2, &v), 0); /* no-op: gone */
		/* the session record back, but neither index entry nor count */
		{
			char digest[STORE_DIGEST_HEX_LEN + 1];

			store_digest_hex(id, strlen(id), digest);
			assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
			write_file(fx, sname, copy, strlen(copy));
			len = snprintf(intent, sizeof(intent),
				       "pam_jwt-store 1\nkind=intent\nuser=alice\nsession=%s\n",
				       digest);
			write_file(fx, "c-intent", intent, (size_t)len);
		}
		free(copy);
		assert_int_equal(put(fx, "alice", "sshd", NOW + 3600, 0, NULL, NULL, &v), -1);
		assert_verdict(&v, VERDICT_REJECT, "too many sessions for this user");
		assert_null(read_record_file(fx, "c-intent"));
		text = read_record_file(fx, "c-total");
		assert_string_equal(text, "pam_jwt-store 1\nkind=counter\nn=2\n");
		free(text);
	}
}

/* ---- refusals: the directory ----------------------------------------------------------------- */

static void expect_open_refused(const char *dir, const struct store_options *opts,
				const char *reason)
{
	struct store *st = (struct store *)1;
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_open(dir, opts, &st, &v), -1);
	assert_null(st);
	assert_verdict(&v, VERDICT_UNAVAILABLE, reason);
}

static void test_refuse_symlink_dir(void **state)
{
	struct fx *fx = *state;
	char link[160];

	snprintf(link, sizeof(link), "%s/link", fx->root);
	assert_int_equal(symlink(fx->dir, link), 0);
	expect_open_refused(link, &fx->opts, "store directory is a symbolic link");
	strcat(link, "/");
	expect_open_refused(link, &fx->opts, "store directory is a symbolic link");
}

static void test_refuse_not_owned(void **state)
{
	struct fx *fx = *state;

	require_root();
	assert_int_equal(chown(fx->dir, 65534, 65534), 0);
	expect_open_refused(fx->dir, &fx->opts, "store directory is not owned by root");
}

static void test_refuse_mode(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(chmod(fx->dir, 0755), 0);
	expect_open_refused(fx->dir, &fx->opts, "store directory is accessible by group or others");
	assert_int_equal(chmod(fx->dir, 0701), 0);
	expect_open_refused(fx->dir, &fx->opts, "store directory is accessible by group or others");
	assert_int_equal(chmod(fx->dir, 0700), 0);
}

static void test_refuse_other(void **state)
{
	struct fx *fx = *state;
	char path[200];

	expect_open_refused("relative/store", &fx->opts, "cannot open store directory");
	expect_open_refused(NULL, &fx->opts, "cannot open store directory");
	snprintf(path, sizeof(path), "%s/absent", fx->root);
	expect_open_refused(path, &fx->opts, "cannot open store directory");
	snprintf(path, sizeof(path), "%s/file", fx->root);
	write_file(fx, "../file", "x", 1);
	expect_open_refused(path, &fx->opts, "cannot open store directory");
	snprintf(path, sizeof(path), "%s/..", fx->dir);
	expect_open_refused(path, &fx->opts, "cannot open store directory");
	/* .lock must be a regular file */
	write_file(fx, "target", "x", 1);
	snprintf(path, sizeof(path), "%s/.lock", fx->dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("target", path), 0);
	expect_open_refused(fx->dir, &fx->opts, "store lock file is unusable");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	expect_open_refused(fx->dir, &fx->opts, "store lock file is unusable");
}

static void test_refuse_not_tmpfs(void **state)
{
	struct fx *fx = *state;
	struct store_options opts = { 0 };
	struct store *st = NULL;
	struct statfs sfs;
	struct verdict v;
	char base[160], dir[200];
	int mounted = 0;

	if (!st_is_root() && !st_in_ci())
		skip();
	require_root();
	/* inside the fixture's tmpfs, so that its teardown (a lazy unmount of the tree)
	 * also removes this mount when an assertion fails below */
	snprintf(base, sizeof(base), "%s/ramfs", fx->root);
	assert_int_equal(mkdir(base, 0700), 0);
	/* ramfs: never tmpfs, whatever the host's /tmp is */
	if (mount("ramfs", base, "ramfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") == 0) {
		mounted = 1;
	} else { /* no ramfs: a directory on the disk, if that is not tmpfs either */
		snprintf(base, sizeof(base), "/var/tmp/pjstore-rf.XXXXXX");
		assert_non_null(mkdtemp(base));
	}
	assert_int_equal(statfs(base, &sfs), 0);
	if ((unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC)
		fail_msg("no non-tmpfs filesystem to test with");
	snprintf(dir, sizeof(dir), "%s/store", base);
	assert_int_equal(mkdir(dir, 0700), 0);
	verdict_init(&v);
	if (store_open(dir, &opts, &st, &v) == 0)
		fail_msg("opened a store that is not on tmpfs");
	assert_null(st);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "store directory is not on tmpfs");
	opts.allow_non_tmpfs = true;
	assert_int_equal(store_open(dir, &opts, &st, &v), 0);
	store_close(st);
	if (mounted)
		umount2(base, MNT_DETACH);
	else
		rm_tree(base);
}

/* ---- refusals: records ------------------------------------------------------------------------ */

/* Replace a record with each kind of bad file; the lookup must be refused each time. */
typedef void (*bad_record_check)(struct fx *fx, const char *what);

static void plant_bad_records(struct fx *fx, const char *name, const char *good,
			      bad_record_check check, const char *what)
{
	static const char *const texts[] = {
		"",                                            /* empty */
		"pam_jwt-store 1\nkind=session\nuser=alice\nuid=1000\nserv", /* truncated */
		"\x89PNG\r\n\x1a\n garbage \x01\x02\n",         /* garbage */
		"pam_jwt-store 0\nkind=revoked-jti\nexp=1\n",   /* wrong header */
	};
	char path[256], big[5000], dup[2048];
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		write_file(fx, name, texts[i], strlen(texts[i]));
		check(fx, what);
	}
	/* duplicate keys: the good record with its last line repeated */
	{
		const char *last = good + strlen(good) - 1;

		while (last > good && last[-1] != '\n')
			last--;
		snprintf(dup, sizeof(dup), "%s%s", good, last);
	}
	write_file(fx, name, dup, strlen(dup));
	check(fx, what);
	/* over 4 KiB: the good record padded with a long unknown line */
	memset(big, 'x', sizeof(big));
	memcpy(big, good, strlen(good));
	write_file(fx, name, big, sizeof(big));
	check(fx, what);
	/* a symlink to a good record */
	write_file(fx, "good-copy", good, strlen(good));
	unlink(path);
	assert_int_equal(symlink("good-copy", path), 0);
	check(fx, what);
	/* a FIFO (must not block) */
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	check(fx, what);
	/* a directory */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	check(fx, what);
	rmdir(path);
	/* and the good record itself is fine */
	write_file(fx, name, good, strlen(good));
}

static void check_session_refused(struct fx *fx, const char *id)
{
	struct store_session s;
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_session_get(fx->st, id, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session record is unreadable");
	assert_string_equal(s.user, "");
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", true, NOW, &s, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "session record is unreadable");
}

static void check_jti_refused(struct fx *fx, const char *jti)
{
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_jti_check(fx->st, jti, NOW, &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "revocation record is unreadable");
}

static void check_used_refused(struct fx *fx, const char *jti)
{
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", jti, NOW + 60, NOW, &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "single-use record is unreadable");
}

static void check_lock_refused(struct fx *fx, const char *user)
{
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_user_check(fx->st, user, NOW, &v), -1);
	assert_verdict(&v, VERDICT_UNAVAILABLE, "lock record is unreadable");
}

static void test_bad_session_records(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1], name[80], *good;
	struct store_session s;
	struct verdict v;
	size_t bad = 0, n = 0;

	put_ok(fx, "alice", id, NULL);
	name_of(name, 's', id, strlen(id));
	good = read_record_file(fx, name);
	assert_non_null(good);
	plant_bad_records(fx, name, good, check_session_refused, id);
	assert_int_equal(store_session_use(fx->st, id, "alice", "sshd", true, NOW, &s, &v), 0);
	/* a well-formed record of another kind under a session name */
	write_file(fx, name, "pam_jwt-store 1\nkind=revoked-jti\nexp=1\n", 39);
	check_session_refused(fx, id);
	assert_int_equal(store_session_scan(fx->st, NULL, count_cb, &n, &bad, &v), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bad, 1);
	free(good);
}

static void test_bad_other_records(void **state)
{
	struct fx *fx = *state;
	char name[80], *good;
	struct verdict v;
	size_t removed = 0;

	verdict_init(&v);
	assert_int_equal(store_jti_revoke(fx->st, "jx", NOW + 60, &v), 0);
	name_of(name, 'j', "jx", 2);
	good = read_record_file(fx, name);
	assert_non_null(good);
	assert_string_equal(good, "pam_jwt-store 1\nkind=revoked-jti\nexp=1700000060\n");
	plant_bad_records(fx, name, good, check_jti_refused, "jx");
	free(good);

	assert_int_equal(store_jti_use_once(fx->st, "sshd", "ux", NOW + 60, NOW - 10, &v), 0);
	name_of(name, 'u', "sshd\0ux", 7);
	good = read_record_file(fx, name);
	assert_non_null(good);
	plant_bad_records(fx, name, good, check_used_refused, "ux");
	free(good);

	assert_int_equal(store_user_lock(fx->st, "alice", NOW + 60, &v), 0);
	name_of(name, 'l', "alice", 5);
	good = read_record_file(fx, name);
	assert_non_null(good);
	plant_bad_records(fx, name, good, check_lock_refused, "alice");
	/* a lock record naming another user is not this user's lock */
	write_file(fx, name, "pam_jwt-store 1\nkind=lock\nuser=bob\nuntil=0\n", 41);
	check_lock_refused(fx, "alice");
	free(good);

	/* gc keeps what it cannot read */
	write_file(fx, name, "junk", 4);
	assert_int_equal(store_gc(fx->st, NOW + 1000000, NULL, NULL, &removed, &v), 0);
	check_lock_refused(fx, "alice");
}

/* Through the store: a session or lock the format cannot hold is refused with a fixed
 * reason and nothing is written; a record file holding such bytes is unreadable. */
static void test_text_fields_store(void **state)
{
	struct fx *fx = *state;
	char id[STORE_SESSION_ID_LEN + 1], name[80], rec[1024];
	struct store_session s;
	struct verdict v;
	size_t i, n = 0, bad = 0;
	int len;

	for (i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		fill(&s, "alice", "sshd");
		snprintf(s.tty, sizeof(s.tty), "%s", bad_text[i]);
		assert_int_equal(store_session_id_new(id), 0);
		verdict_init(&v);
		assert_int_equal(store_session_put(fx->st, id, &s, &v), -1);
		assert_verdict(&v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
		fill(&s, bad_text[i], "sshd");
		assert_int_equal(store_session_put(fx->st, id, &s, &v), -1);
		assert_verdict(&v, VERDICT_BAD_CONFIG, "session text has control or non-UTF-8 bytes");
	}
	assert_int_equal(count_sessions(fx, NULL), 0);
	/* a UTF-8 user name is fine */
	put_ok(fx, "jos\xc3\xa9", NULL, NULL);
	assert_int_equal(count_sessions(fx, "jos\xc3\xa9"), 1);

	/* a session record file with a non-UTF-8 byte in a field: unreadable, not listed */
	put_ok(fx, "alice", id, NULL);
	name_of(name, 's', id, strlen(id));
	len = snprintf(rec, sizeof(rec),
		       "pam_jwt-store 1\nkind=session\nuser=alice\nuid=1000\nservice=sshd\n"
		       "tty=pts\xff\nrhost=h\npid=1\ncreated=%lld\nexpires=%lld\nidle=0\n"
		       "last_seen=%lld\nleader_start=0\nparent=\norigin_jti=\ntokens=0\nowner=alice\nfamily=\n",
		       NOW, NOW + 3600, NOW);
	write_file(fx, name, rec, (size_t)len);
	check_session_refused(fx, id);
	verdict_init(&v);
	assert_int_equal(store_session_scan(fx->st, "alice", count_cb, &n, &bad, &v), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bad, 1);

	/* locks: a name the format cannot hold is never written; looking it up finds no
	 * lock, unless a record is there, which then cannot be read */
	verdict_init(&v);
	assert_int_equal(store_user_lock(fx->st, "b\xff" "b", 0, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "user name is invalid");
	assert_int_equal(store_user_lock(fx->st, "b\xc2\x9b" "b", 0, &v), -1);
	assert_verdict(&v, VERDICT_BAD_CONFIG, "user name is invalid");
	name_of(name, 'l', "b\xff" "b", 3);
	snprintf(rec, sizeof(rec), "%s/%s", fx->dir, name);
	assert_int_equal(access(rec, F_OK), -1);
	assert_int_equal(store_user_check(fx->st, "b\xff" "b", NOW, &v), 0);
	write_file(fx, name, "pam_jwt-store 1\nkind=lock\nuser=b\xff" "b\nuntil=0\n", 43);
	check_lock_refused(fx, "b\xff" "b");
	assert_int_equal(store_user_unlock(fx->st, "b\xff" "b", &v), 0);
	assert_int_equal(store_user_check(fx->st, "b\xff" "b", NOW, &v), 0);
	assert_int_equal(store_user_lock(fx->st, "jos\xc3\xa9", 0, &v), 0);
	assert_int_equal(store_user_check(fx->st, "jos\xc3\xa9", NOW, &v), -1);
	assert_verdict(&v, VERDICT_REJECT, "user is locked");
}

/* ---- no credential in a path ------------------------------------------------------------ */

static void test_no_id_in_names(void **state)
{
	struct fx *fx = *state;
	char ids[4][STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session s;
	struct dirent *de;
	struct verdict v;
	DIR *d;
	int i, j, files = 0;

	for (i = 0; i < 4; i++)
		put_ok(fx, i % 2 ? "alice" : "bob", ids[i], i == 0 ? digest : NULL);
	assert_int_equal(store_session_use(fx->st, ids[1], "alice", "sshd", true, NOW, &s, &v), 0);
	assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
	assert_int_equal(store_jti_use_once(fx->st, "sshd", ids[2], NOW + 60, NOW, &v), 0);
	assert_int_equal(store_jti_revoke(fx->st, ids[3], NOW + 60, &v), 0);
	d = opendir(fx->dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[512], *text;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		files++;
		for (j = 0; j < 4; j++) {
			char part[17];

			/* neither the ID nor any 16-character piece of it */
			assert_null(strstr(de->d_name, ids[j]));
			memcpy(part, ids[j] + 4 + 16, 16);
			part[16] = '\0';
			assert_null(strstr(de->d_name, part));
			snprintf(path, sizeof(path), "%s/%s", fx->dir, de->d_name);
			text = tu_read_file(path, NULL);
			if (text != NULL) {
				assert_null(strstr(text, ids[j] + 4));
				free(text);
			}
		}
		assert_true(strncmp(de->d_name, ".tmp.", 5) != 0);
	}
	closedir(d);
	/* .lock, c-total, 3 sessions, 2 indexes, u-, j- */
	assert_int_equal(files, 9);
}

/* what every backend must do; the rest reads and damages the files of tmpfs */
/* ---- Redis only ------------------------------------------------------------------------- */

/* PTTL (ms) of the record {prefix}:KIND:sha256(name) on the fixture's server. */
static long long redis_pttl(const struct fx *fx, char kind, const char *name)
{
	char key[200], digest[STORE_DIGEST_HEX_LEN + 1];
	const char *argv[] = { "PTTL", key };
	redisReply *r;
	long long ms;

	store_digest_hex(name, strlen(name), digest);
	snprintf(key, sizeof(key), "{%s}:%c:%s", fx->prefix, kind, digest);
	r = rx(fx, 2, argv);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	ms = r->integer;
	freeReplyObject(r);
	return ms;
}

/* Every record gets a Redis expiry of at most ten years, whatever its own: far in the
 * future, at the ends of int64 (no overflow in the arithmetic), in the past or negative
 * (never a key without expiry: -1). Only a lock without an end has none. */
static void test_redis_ttl_clamped(void **state)
{
	struct fx *fx = *state;
	const int64_t now = (int64_t)time(NULL);
	const long long ten_years_ms = 10LL * 365 * 86400 * 1000, day_ms = 86400LL * 1000;
	static const struct {
		const char *jti;
		int64_t exp; /* 0: now + 20 years */
		bool future;
	} cases[] = {
		{ "ttl-max", INT64_MAX, true },
		{ "ttl-max-1", INT64_MAX - 1, true },
		{ "ttl-20y", 0, true },
		{ "ttl-past", 1000000000, false },
		{ "ttl-one", 1, false },
		{ "ttl-minus-one", -1, false },
		{ "ttl-min", INT64_MIN, false },
		{ "ttl-min+1", INT64_MIN + 1, false },
	};
	struct store_session sess;
	char id[STORE_SESSION_ID_LEN + 1];
	struct verdict v;
	long long ms;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t exp = cases[i].exp != 0 ? cases[i].exp : now + 20LL * 365 * 86400;

		verdict_init(&v);
		if (store_jti_revoke(fx->st, cases[i].jti, exp, &v) != 0)
			fail_msg("revoke %s: %s", cases[i].jti, v.reason);
		ms = redis_pttl(fx, 'j', cases[i].jti);
		if (ms <= 0 || ms > (cases[i].future ? ten_years_ms : day_ms))
			fail_msg("%s (exp %lld): PTTL %lld ms", cases[i].jti, (long long)exp, ms);
		if (cases[i].future && ms < ten_years_ms - 60000)
			fail_msg("%s: PTTL %lld ms, want about ten years", cases[i].jti, ms);
		/* the policy is unchanged: revoked until exp */
		assert_int_equal(store_jti_check(fx->st, cases[i].jti, now, &v),
				 cases[i].future ? -1 : 0);
	}
	/* a session that expires at the end of time: ten years on the server */
	fill(&sess, "ttl-user", "sshd");
	sess.expires = INT64_MAX;
	assert_int_equal(store_session_id_new(id), 0);
	verdict_init(&v);
	assert_int_equal(store_session_put(fx->st, id, &sess, &v), 0);
	ms = redis_pttl(fx, 's', id);
	assert_true(ms > ten_years_ms - 60000 && ms <= ten_years_ms);
	/* a lock without an end is the one record kept until deleted */
	assert_int_equal(store_user_lock(fx->st, "ttl-user", 0, &v), 0);
	ms = redis_pttl(fx, 'l', "ttl-user");
	assert_int_equal(ms, -1);
	assert_int_equal(store_user_lock(fx->st, "ttl-user", now - 5, &v), 0);
	ms = redis_pttl(fx, 'l', "ttl-user");
	assert_true(ms > 0 && ms <= day_ms);
}

/* calls of a command since the server started, from INFO commandstats (0: never) */
static long long redis_calls(const struct fx *fx, const char *cmd)
{
	const char *argv[] = { "INFO", "commandstats" };
	char want[64];
	const char *p;
	redisReply *r = rx(fx, 2, argv);
	long long n = 0;

	snprintf(want, sizeof(want), "cmdstat_%s:calls=", cmd);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	p = strstr(r->str, want);
	if (p != NULL)
		n = strtoll(p + strlen(want), NULL, 10);
	freeReplyObject(r);
	return n;
}

/* Scripts go by SHA-1 (EVALSHA); after SCRIPT FLUSH the server answers NOSCRIPT and the
 * store sends each script's text once (EVAL), then goes on by SHA-1: every operation
 * keeps working, on a connection opened before the flush and on new ones. */
static void test_redis_script_flush(void **state)
{
	struct fx *fx = *state;
	const char *flush[] = { "SCRIPT", "FLUSH" };
	char id[3][STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session out;
	long long eval0, sha0, eval1, sha1;
	struct verdict v;
	size_t removed = 0;
	int round, i;

	put_ok(fx, "flush-user", id[0], NULL);
	for (round = 0; round < 2; round++) {
		freeReplyObject(rx(fx, 2, flush));
		eval0 = redis_calls(fx, "eval");
		sha0 = redis_calls(fx, "evalsha");
		/* after the flush: put (lease release, fenced put, index pages), use (fenced
		 * put), revoke (del, announcement), jti, lock, gc */
		put_ok(fx, "flush-user", id[1], NULL);
		for (i = 0; i < 5; i++) {
			verdict_init(&v);
			if (store_session_use(fx->st, id[0], "flush-user", "sshd", false, NOW + 1,
					      &out, &v) != 0)
				fail_msg("use after SCRIPT FLUSH (round %d): %s", round, v.reason);
		}
		assert_int_equal(count_sessions(fx, "flush-user"), 2);
		store_digest_hex(id[1], strlen(id[1]), digest);
		verdict_init(&v);
		removed = 0;
		assert_int_equal(store_session_revoke(fx->st, digest, count_cb, &removed, NULL, &v),
				 0);
		assert_int_equal(removed, 1);
		/* announced (the tombstone's script) */
		assert_int_equal(store_session_was_revoked(fx->st, digest), 1);
		assert_int_equal(store_jti_revoke(fx->st, "flush-jti", NOW + 100, &v), 0);
		assert_int_equal(store_jti_check(fx->st, "flush-jti", NOW, &v), -1);
		assert_int_equal(store_user_lock(fx->st, "flush-user", NOW + 100, &v), 0);
		assert_int_equal(store_user_unlock(fx->st, "flush-user", &v), 0);
		assert_int_equal(store_gc(fx->st, NOW + 1, NULL, NULL, &removed, &v), 0);
		put_ok(fx, "flush-user", id[2], NULL);
		eval1 = redis_calls(fx, "eval") - eval0;
		sha1 = redis_calls(fx, "evalsha") - sha0;
		/* each of the five scripts by its text at most once per connection that met
		 * the flush (the store's own, and one per transaction's process at most) */
		if (eval1 < 1 || eval1 > 10 || sha1 < 20)
			fail_msg("round %d: %lld EVAL, %lld EVALSHA after SCRIPT FLUSH", round, eval1,
				 sha1);
		store_digest_hex(id[2], strlen(id[2]), digest);
		assert_int_equal(store_session_delete(fx->st, digest, &v), 0);
	}
}

#define BACKEND_TESTS                                                                     \
	T(test_create_lookup_use), T(test_expired), T(test_idle),                         \
	T(test_wrong_user_and_service), T(test_delete), T(test_revoke_user),              \
	T(test_resolve_prefix), T(test_scan), T(test_capacity_per_user),                  \
	T(test_capacity_total), T(test_capacity_concurrent), T(test_jti_revoke),          \
	T(test_jti_use_once), T(test_jti_use_once_concurrent), T(test_user_lock), T(test_gc),   \
	T(test_leader_boot), T(test_bind_host)

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
	const struct CMUnitTest backend_tests[] = { BACKEND_TESTS, T(test_redis_ttl_clamped),
						    T(test_redis_script_flush) };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session_id_shape),
		cmocka_unit_test(test_format_parse_round_trip),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_text_fields),
		BACKEND_TESTS,
		T(test_crash_tolerance),
		T(test_refuse_symlink_dir),
		T(test_refuse_not_owned),
		T(test_refuse_mode),
		T(test_refuse_other),
		T(test_refuse_not_tmpfs),
		T(test_bad_session_records),
		T(test_bad_other_records),
		T(test_text_fields_store),
		T(test_no_id_in_names),
#undef T
	};

	if (getenv("PJ_TEST_STORE_URL") != NULL)
		return cmocka_run_group_tests_name("test_store on redis", backend_tests, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
