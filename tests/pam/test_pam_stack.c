/*
 * pam_jwt.so driven through the real Linux-PAM library, without root.
 *
 * Each test writes a private PAM configuration directory (pam_start_confdir, Linux-PAM
 * >= 1.5.2) whose service file loads the module by absolute path, plus the key and
 * config files it names, all in a fresh 0700 temporary directory owned by the running
 * user. Keys and tokens are made in-process with the core API. The PAM user is the
 * running user (root when run as root), so getpwnam() finds it.
 *
 * The module is $BUILD_DIR/pam_jwt.so when BUILD_DIR is set (tests/run-all.sh sets it);
 * otherwise the build directory this binary was built into (build-asan/tests/x ->
 * build-asan/pam_jwt.so); otherwise build/pam_jwt.so under the repository top.
 * pam_syslog output goes to syslog and is not looked at.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <jansson.h>

#include "b64url.h"
#include "jwa.h"
#include "jwt.h"
#include "keys.h"
#include "store.h"

#define SERVICE "pamjwt-test"
#define KID_ES "test-es256"
#define KID_HS "test-hs256"
#define NO_SUCH_USER "pamjwt-no-such-user-7f3a"
#define MAX_PROMPTS 8

/* ---- state shared by all tests (made once in group setup) ----------------------- */

static char g_top[PATH_MAX];
static char g_module[PATH_MAX];
static char g_user[256];
static struct jwa_key g_es;       /* ES256 signing key; its public half is in the JWKS */
static struct jwa_key g_es_other; /* a different ES256 key, same kid: forged tokens */
static struct jwa_key g_hs;       /* HS256 secret */
static char *g_es_jwks;           /* JWKS text with the public ES256 key */
static char *g_hs_jwks;           /* JWKS text with the HS256 secret */
static int g_jti;
/* Our own reference to the module, held until exit: libpam dlclose()s it in pam_end(), and
 * under ASan a leak found at exit in an unloaded module has no symbols (its frames are
 * "<unknown module>" or, worse, misattributed to whatever reuses the addresses). */
static void *g_module_ref;

/* ---- per-test fixture --------------------------------------------------------------- */

struct fx {
	char dir[PATH_MAX];     /* private 0700 temp dir */
	char confdir[PATH_MAX]; /* dir/pam.d */
	char jwks[PATH_MAX];    /* dir/es.jwks (0644) */
	char conf[PATH_MAX];    /* dir/empty.conf (0644): keeps /etc/security out of it and
				 * names the store */
	char store[PATH_MAX];   /* dir/store (0700): the session store (allow_non_tmpfs) */
	pam_handle_t *pamh;
};

/* The conversation: answers ECHO_OFF prompts in order, records what it was shown. */
struct conv_state {
	const char *answers[4];
	size_t n_answers;
	size_t next;
	int echo_off;                      /* ECHO_OFF prompts asked */
	int echo_on;                       /* ECHO_ON prompts asked (none expected) */
	int infos;                         /* ERROR_MSG + TEXT_INFO messages */
	char info[256];                    /* text of the last of them */
	char prompts[MAX_PROMPTS][256];    /* text of the ECHO_OFF prompts */
};

static int test_conv(int num_msg, const struct pam_message **msg, struct pam_response **resp,
		     void *appdata)
{
	struct conv_state *cs = appdata;
	struct pam_response *r;
	int i;

	*resp = NULL;
	if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)num_msg, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (i = 0; i < num_msg; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			if (cs->echo_off < MAX_PROMPTS)
				snprintf(cs->prompts[cs->echo_off], sizeof(cs->prompts[0]), "%s",
					 msg[i]->msg != NULL ? msg[i]->msg : "(null)");
			cs->echo_off++;
			if (cs->next >= cs->n_answers)
				goto fail;
			r[i].resp = strdup(cs->answers[cs->next++]);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_PROMPT_ECHO_ON:
			cs->echo_on++;
			goto fail;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			cs->infos++;
			snprintf(cs->info, sizeof(cs->info), "%s",
				 msg[i]->msg != NULL ? msg[i]->msg : "(null)");
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (i = 0; i < num_msg; i++) {
		if (r[i].resp != NULL) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

/* ---- small helpers --------------------------------------------------------------------- */

/* snprintf result check: 1 when the output fit. */
static int fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

static int write_file_mode(const char *path, const char *text, mode_t mode)
{
	size_t len = strlen(text), done = 0;
	int fd, rc = -1;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	if (fchmod(fd, mode) != 0)
		goto out;
	rc = 0;
out:
	close(fd);
	return rc;
}

static void path_in(const struct fx *f, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s", f->dir, name);

	assert_true(n > 0 && (size_t)n < size);
}

/* Write the service file from a template: $MOD module path, $STD = "config=$CONF
 * jwks=$JWKS", $JWKS, $CONF, $DIR, $STORE (store_dir=... allow_non_tmpfs, for lines with
 * their own config file). */
static void fx_service(struct fx *f, const char *tmpl)
{
	char out[8192], path[PATH_MAX + 64], std[2 * PATH_MAX + 32];
	char store_args[PATH_MAX + 64];
	const char *p = tmpl, *rep;
	size_t o = 0, skip, rl;

	snprintf(std, sizeof(std), "config=%s jwks=%s", f->conf, f->jwks);
	snprintf(store_args, sizeof(store_args), "store_dir=%s allow_non_tmpfs", f->store);
	while (*p != '\0') {
		rep = NULL;
		skip = 0;
		if (strncmp(p, "$MOD", 4) == 0) {
			rep = g_module;
			skip = 4;
		} else if (strncmp(p, "$STD", 4) == 0) {
			rep = std;
			skip = 4;
		} else if (strncmp(p, "$JWKS", 5) == 0) {
			rep = f->jwks;
			skip = 5;
		} else if (strncmp(p, "$CONF", 5) == 0) {
			rep = f->conf;
			skip = 5;
		} else if (strncmp(p, "$STORE", 6) == 0) {
			rep = store_args;
			skip = 6;
		} else if (strncmp(p, "$DIR", 4) == 0) {
			rep = f->dir;
			skip = 4;
		}
		if (rep != NULL) {
			rl = strlen(rep);
			assert_true(o + rl < sizeof(out));
			memcpy(out + o, rep, rl);
			o += rl;
			p += skip;
		} else {
			assert_true(o + 1 < sizeof(out));
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	snprintf(path, sizeof(path), "%s/%s", f->confdir, SERVICE);
	assert_int_equal(write_file_mode(path, out, 0644), 0);
}

static void fx_end(struct fx *f, int status)
{
	if (f->pamh != NULL)
		pam_end(f->pamh, status);
	f->pamh = NULL;
}

/* Start a PAM transaction for `user` against the fixture's service file. */
static void fx_start(struct fx *f, const char *user, struct conv_state *cs)
{
	static struct pam_conv conv;

	conv.conv = test_conv;
	conv.appdata_ptr = cs;
	fx_end(f, PAM_SUCCESS);
	assert_int_equal(pam_start_confdir(SERVICE, user, &conv, f->confdir, &f->pamh),
			 PAM_SUCCESS);
	assert_non_null(f->pamh);
}

static void conv_answers(struct conv_state *cs, const char *a0, const char *a1)
{
	memset(cs, 0, sizeof(*cs));
	if (a0 != NULL)
		cs->answers[cs->n_answers++] = a0;
	if (a1 != NULL)
		cs->answers[cs->n_answers++] = a1;
}

/* Start, pam_authenticate with one answer, and return its result (handle stays open). */
static int fx_auth(struct fx *f, const char *user, struct conv_state *cs, const char *answer)
{
	conv_answers(cs, answer, NULL);
	fx_start(f, user, cs);
	return pam_authenticate(f->pamh, 0);
}

/* A token signed by `key` for `sub`; iat/exp relative to now; extra is a JSON object
 * merged over the standard claims (may be NULL). */
static char *mint(const struct jwa_key *key, const char *kid, const char *sub,
		  long iat_delta, long exp_delta, const char *extra)
{
	int64_t now = (int64_t)time(NULL);
	json_t *claims, *more;
	char jti[32];
	char *token;

	snprintf(jti, sizeof(jti), "t-%d", ++g_jti);
	claims = json_pack("{s:s, s:I, s:I, s:s}", "sub", sub, "iat",
			   (json_int_t)(now + iat_delta), "exp", (json_int_t)(now + exp_delta),
			   "jti", jti);
	assert_non_null(claims);
	if (extra != NULL) {
		more = json_loads(extra, 0, NULL);
		assert_non_null(more);
		assert_int_equal(json_object_update(claims, more), 0);
		json_decref(more);
	}
	token = jwt_mint(key, kid, claims);
	json_decref(claims);
	assert_non_null(token);
	return token;
}

static char *mint_es(const char *extra)
{
	return mint(&g_es, KID_ES, g_user, 0, 600, extra);
}

/* "header.payload.sig" from raw JSON texts (no real signature). */
static char *unsigned_token(const char *header, const char *payload, const char *sig)
{
	char *h = b64url_encode_alloc((const unsigned char *)header, strlen(header));
	char *p = b64url_encode_alloc((const unsigned char *)payload, strlen(payload));
	char *t = NULL;

	assert_non_null(h);
	assert_non_null(p);
	assert_true(asprintf(&t, "%s.%s.%s", h, p, sig) > 0);
	free(h);
	free(p);
	return t;
}

static char *jwks_text(const struct jwa_key *key, const char *kid)
{
	json_t *jwk = jwk_from_key(key, kid), *doc;
	char *text;

	assert_non_null(jwk);
	doc = json_pack("{s:[o]}", "keys", jwk);
	assert_non_null(doc);
	text = json_dumps(doc, JSON_INDENT(2));
	json_decref(doc);
	assert_non_null(text);
	return text;
}

static void es_keygen(struct jwa_key *key)
{
	memset(key, 0, sizeof(*key));
	key->alg = JWA_ES256;
	key->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key->pkey);
	assert_null(jwa_key_check(key));
}

static void *open_module(void)
{
	void *h = dlopen(g_module, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL)
		print_error("dlopen(%s): %s\n", g_module, dlerror());
	assert_non_null(h);
	return h;
}

/* ---- setup / teardown ----------------------------------------------------------------- */

static int find_top(void)
{
	char dir[PATH_MAX], probe[PATH_MAX + 64];
	char *slash;

	if (getcwd(dir, sizeof(dir)) == NULL)
		return -1;
	for (;;) {
		snprintf(probe, sizeof(probe), "%s/pam_module/pam_jwt.c", dir);
		if (access(probe, F_OK) == 0) {
			snprintf(g_top, sizeof(g_top), "%s", dir);
			return 0;
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			return -1;
		*slash = '\0';
	}
}

static int find_module(void)
{
	const char *env = getenv("BUILD_DIR");
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		if (!fits(snprintf(g_module, sizeof(g_module), "%s%s%s/pam_jwt.so",
				   env[0] == '/' ? "" : g_top, env[0] == '/' ? "" : "/", env),
			  sizeof(g_module)))
			return -1;
		return access(g_module, R_OK) == 0 ? 0 : -1;
	}
	/* BUILD/tests/test_pam_stack -> BUILD/pam_jwt.so */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int i = 0; i < 2 && (slash = strrchr(exe, '/')) != NULL; i++)
			*slash = '\0';
		if (fits(snprintf(g_module, sizeof(g_module), "%s/pam_jwt.so", exe),
			 sizeof(g_module)) &&
		    exe[0] == '/' && access(g_module, R_OK) == 0)
			return 0;
	}
	if (!fits(snprintf(g_module, sizeof(g_module), "%s/build/pam_jwt.so", g_top),
		  sizeof(g_module)))
		return -1;
	return access(g_module, R_OK) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	struct passwd *pw = getpwuid(getuid());
	(void)state;

	if (find_top() != 0) {
		print_error("cannot find the repository top from the current directory\n");
		return -1;
	}
	if (find_module() != 0) {
		print_error("module not found: %s (run make first)\n", g_module);
		return -1;
	}
	if (pw == NULL || strlen(pw->pw_name) >= sizeof(g_user)) {
		print_error("the running uid has no passwd entry\n");
		return -1;
	}
	snprintf(g_user, sizeof(g_user), "%s", pw->pw_name);
	g_module_ref = dlopen(g_module, RTLD_NOW | RTLD_LOCAL);
	if (g_module_ref == NULL) {
		print_error("dlopen(%s): %s\n", g_module, dlerror());
		return -1;
	}
	es_keygen(&g_es);
	es_keygen(&g_es_other);
	memset(&g_hs, 0, sizeof(g_hs));
	g_hs.alg = JWA_HS256;
	g_hs.secret_len = 32;
	g_hs.secret = malloc(g_hs.secret_len);
	if (g_hs.secret == NULL || RAND_bytes(g_hs.secret, (int)g_hs.secret_len) != 1)
		return -1;
	g_es_jwks = jwks_text(&g_es, KID_ES);
	g_hs_jwks = jwks_text(&g_hs, KID_HS);
	fprintf(stderr, "# module %s, user %s\n", g_module, g_user);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	jwa_key_clear(&g_es);
	jwa_key_clear(&g_es_other);
	jwa_key_clear(&g_hs);
	free(g_es_jwks);
	free(g_hs_jwks);
	return 0;
}

static int fx_setup(void **state)
{
	const char *tmp = getenv("TMPDIR");
	struct fx *f = calloc(1, sizeof(*f));
	char conf_text[PATH_MAX + 128];

	if (f == NULL)
		return -1;
	if (!fits(snprintf(f->dir, sizeof(f->dir), "%s/pamjwt-stack.XXXXXX",
			   tmp != NULL && tmp[0] == '/' ? tmp : "/tmp"), sizeof(f->dir) - 64))
		goto fail;
	if (mkdtemp(f->dir) == NULL || chmod(f->dir, 0700) != 0)
		goto fail;
	if (!fits(snprintf(f->confdir, sizeof(f->confdir), "%s/pam.d", f->dir),
		  sizeof(f->confdir)) ||
	    !fits(snprintf(f->jwks, sizeof(f->jwks), "%s/es.jwks", f->dir), sizeof(f->jwks)) ||
	    !fits(snprintf(f->conf, sizeof(f->conf), "%s/empty.conf", f->dir), sizeof(f->conf)) ||
	    !fits(snprintf(f->store, sizeof(f->store), "%s/store", f->dir), sizeof(f->store)) ||
	    !fits(snprintf(conf_text, sizeof(conf_text),
			   "# no keys; only the test's own store\nstore_dir = %s\n"
			   "allow_non_tmpfs = yes\n", f->store), sizeof(conf_text)))
		goto fail;
	if (mkdir(f->confdir, 0700) != 0 || mkdir(f->store, 0700) != 0 ||
	    chmod(f->store, 0700) != 0 || write_file_mode(f->jwks, g_es_jwks, 0644) != 0 ||
	    write_file_mode(f->conf, conf_text, 0644) != 0)
		goto fail;
	*state = f;
	return 0;
fail:
	print_error("fixture setup in %s failed: %s\n", f->dir, strerror(errno));
	free(f);
	return -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	(void)chmod(path, flag == FTW_DP ? 0700 : 0600);
	return remove(path);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	if (f == NULL)
		return 0;
	fx_end(f, PAM_SUCCESS);
	(void)nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- the tests ------------------------------------------------------------------------ */

static void test_valid_token_auth_acct_setcred(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD\n"
		      "account required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	assert_int_equal(cs.echo_on, 0);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_DELETE_CRED), PAM_SUCCESS);
	free(tok);
}

static void test_hmac_jwks_private_ok(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint(&g_hs, KID_HS, g_user, 0, 600, NULL);
	char hs[PATH_MAX];

	path_in(f, "hs.jwks", hs, sizeof(hs));
	assert_int_equal(write_file_mode(hs, g_hs_jwks, 0600), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/hs.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_pem_key_option(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	char pem[PATH_MAX];
	BIO *bio = BIO_new(BIO_s_mem());
	char *text = NULL;
	long len;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, g_es.pkey), 1);
	len = BIO_get_mem_data(bio, &text);
	assert_true(len > 0);
	text = strndup(text, (size_t)len);
	BIO_free(bio);
	path_in(f, "es.pem", pem, sizeof(pem));
	assert_int_equal(write_file_mode(pem, text, 0644), 0);
	fx_service(f, "auth required $MOD config=$CONF key=ES256:" KID_ES ":$DIR/es.pem\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(text);
	free(tok);
}

static void test_bad_signature(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	/* Same kid and alg, signed by a key the JWKS does not hold. */
	char *tok = mint(&g_es_other, KID_ES, g_user, 0, 600, NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	assert_int_equal(cs.echo_off, 1);
	free(tok);
}

static void test_tampered_payload(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *good = mint_es(NULL);
	char *other = mint_es("{\"role\": \"admin\"}");
	char *tok = NULL;
	const char *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
	const char *o1 = strchr(other, '.'), *o2 = strchr(o1 + 1, '.');

	/* header of good, payload of other, signature of good */
	assert_true(asprintf(&tok, "%.*s.%.*s%s", (int)(d1 - good), good, (int)(o2 - o1 - 1),
			     o1 + 1, d2) > 0);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
	free(good);
	free(other);
}

static void test_expired(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint(&g_es, KID_ES, g_user, -7200, -3600, NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
}

static void test_wrong_user(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint(&g_es, KID_ES, "someone-else", 0, 600, NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
}

static void test_user_not_in_passwd(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint(&g_es, KID_ES, NO_SUCH_USER, 0, 600, NULL);

	assert_null(getpwnam(NO_SUCH_USER));
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, NO_SUCH_USER, &cs, tok), PAM_USER_UNKNOWN);
	free(tok);
}

static void test_jwks_missing_or_unreadable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	char path[PATH_MAX];

	/* missing */
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/missing.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	/* a directory, not a file */
	path_in(f, "dir.jwks", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/dir.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	/* a symbolic link to a good JWKS */
	path_in(f, "link.jwks", path, sizeof(path));
	assert_int_equal(symlink(f->jwks, path), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/link.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	/* mode 000: unreadable, except to root (who reads anything) */
	path_in(f, "noread.jwks", path, sizeof(path));
	assert_int_equal(write_file_mode(path, g_es_jwks, 0000), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/noread.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok),
			 geteuid() == 0 ? PAM_SUCCESS : PAM_AUTHINFO_UNAVAIL);
	/* not JSON */
	path_in(f, "junk.jwks", path, sizeof(path));
	assert_int_equal(write_file_mode(path, "{\"keys\": [", 0644), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/junk.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	free(tok);
}

static void test_jwks_group_writable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(chmod(f->jwks, 0664), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(chmod(f->jwks, 0646), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	/* the same file, safe again: accepted */
	assert_int_equal(chmod(f->jwks, 0644), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_jwks_dir_group_writable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_hmac_jwks_world_readable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint(&g_hs, KID_HS, g_user, 0, 600, NULL);
	char hs[PATH_MAX];

	path_in(f, "hs.jwks", hs, sizeof(hs));
	assert_int_equal(write_file_mode(hs, g_hs_jwks, 0644), 0);
	fx_service(f, "auth required $MOD config=$CONF jwks=$DIR/hs.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(chmod(hs, 0640), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	free(tok);
}

static void test_unknown_option(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD frobnicate=1\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	assert_int_equal(cs.echo_off, 0); /* refused before prompting */
	fx_service(f, "auth required $MOD $STD frobnicate\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	free(tok);
}

static void test_bad_value(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD leeway=abc\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	fx_service(f, "auth required $MOD $STD max_token_size=12\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	fx_service(f, "auth required $MOD $STD jwks=relative/path.jwks\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	/* a good duration spelling is accepted */
	fx_service(f, "auth required $MOD $STD leeway=2m\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_no_keys_configured(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD config=$CONF\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	free(tok);
}

static void test_config_file_unknown_key(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	char conf[PATH_MAX], text[2 * PATH_MAX + 128];

	path_in(f, "pam_jwt.conf", conf, sizeof(conf));
	snprintf(text, sizeof(text), "jwks = %s\nfrobnicate = yes\n", f->jwks);
	assert_int_equal(write_file_mode(conf, text, 0644), 0);
	fx_service(f, "auth required $MOD config=$DIR/pam_jwt.conf\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SERVICE_ERR);
	/* the same file without the unknown key works */
	snprintf(text, sizeof(text), "# pam_jwt\njwks = %s\nstore_dir = %s\nallow_non_tmpfs = yes\n",
		 f->jwks, f->store);
	assert_int_equal(write_file_mode(conf, text, 0644), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_config_file_unsafe_or_missing(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	char conf[PATH_MAX], text[2 * PATH_MAX + 128];

	path_in(f, "pam_jwt.conf", conf, sizeof(conf));
	snprintf(text, sizeof(text), "jwks = %s\n", f->jwks);
	assert_int_equal(write_file_mode(conf, text, 0666), 0);
	fx_service(f, "auth required $MOD config=$DIR/pam_jwt.conf\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	fx_service(f, "auth required $MOD config=$DIR/missing.conf jwks=$JWKS\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	free(tok);
}

static void test_argument_overrides_config(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es("{\"aud\": \"aud-from-arg\"}");
	char conf[PATH_MAX], text[2 * PATH_MAX + 128];

	path_in(f, "pam_jwt.conf", conf, sizeof(conf));
	snprintf(text, sizeof(text), "jwks = %s\naudience = aud-from-file\n"
		 "store_dir = %s\nallow_non_tmpfs = yes\n", f->jwks, f->store);
	assert_int_equal(write_file_mode(conf, text, 0644), 0);
	/* the file alone: wrong audience */
	fx_service(f, "auth required $MOD config=$DIR/pam_jwt.conf\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	/* the argument wins over the file */
	fx_service(f, "auth required $MOD config=$DIR/pam_jwt.conf audience=aud-from-arg\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	/* and a token for the file's audience is now refused */
	free(tok);
	tok = mint_es("{\"aud\": \"aud-from-file\"}");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
}

static void test_require_claim(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es("{\"role\": \"admin\", \"groups\": [\"wheel\", \"adm\"]}");
	char *plain = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD require_claim=role:admin\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(fx_auth(f, g_user, &cs, plain), PAM_AUTH_ERR);
	fx_service(f, "auth required $MOD $STD require_claim=role:root\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	fx_service(f, "auth required $MOD $STD require_claim=groups:wheel "
		      "require_claim=role:admin\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	fx_service(f, "auth required $MOD $STD require_claim=groups:wheel "
		      "require_claim=groups:sudo\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
	free(plain);
}

static void test_issuer(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es("{\"iss\": \"https://idp.example\"}");

	fx_service(f, "auth required $MOD $STD issuer=https://idp.example\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	fx_service(f, "auth required $MOD $STD issuer=https://other.example\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
}

static void test_prompt_text(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	assert_string_equal(cs.prompts[0], "JWT: ");
	fx_service(f, "auth required $MOD $STD [prompt=Token: ]\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	assert_string_equal(cs.prompts[0], "Token: ");
	/* a prompt with a format directive is shown literally */
	fx_service(f, "auth required $MOD $STD [prompt=100%s sure: ]\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_string_equal(cs.prompts[0], "100%s sure: ");
	free(tok);
}

static void test_use_first_pass_after_prompting_module(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth optional $MOD $STD\n"
		      "auth required $MOD $STD use_first_pass\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	/* the second module really verifies what it took: a forged first answer fails */
	free(tok);
	tok = mint(&g_es_other, KID_ES, g_user, 0, 600, NULL);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	assert_int_equal(cs.echo_off, 1);
	free(tok);
}

static void test_use_first_pass_without_authtok(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD use_first_pass\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	assert_int_equal(cs.echo_off, 0);
	free(tok);
}

static void test_try_first_pass(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	/* no PAM_AUTHTOK yet: prompts */
	fx_service(f, "auth required $MOD $STD try_first_pass\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	/* an earlier module set it: no second prompt */
	fx_service(f, "auth optional $MOD $STD\n"
		      "auth required $MOD $STD try_first_pass\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	free(tok);
}

static void test_ignore_non_jwt_sufficient(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	fx_service(f, "auth sufficient $MOD $STD ignore_non_jwt\n"
		      "auth required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_SUCCESS);
	assert_int_equal(cs.echo_off, 1);
	fx_service(f, "auth sufficient $MOD $STD ignore_non_jwt\n"
		      "auth required pam_deny.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_AUTH_ERR);
}

static void test_ignore_non_jwt_returns_ignore(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *bad = mint(&g_es_other, KID_ES, g_user, 0, 600, NULL);
	char *good = mint_es(NULL);

	/* `required`: PAM_IGNORE lets pam_permit decide; PAM_AUTH_ERR would stick. */
	fx_service(f, "auth required $MOD $STD ignore_non_jwt\n"
		      "auth required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_SUCCESS);
	assert_int_equal(fx_auth(f, g_user, &cs, "not.a.jwt"), PAM_SUCCESS);
	/* JWT-shaped but forged: still refused */
	assert_int_equal(fx_auth(f, g_user, &cs, bad), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, good), PAM_SUCCESS);
	free(bad);
	free(good);
}

static void test_non_jwt_without_ignore(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	fx_service(f, "auth required $MOD $STD\n"
		      "auth required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, ""), PAM_AUTH_ERR);
}

/* PAM_IGNORE is seen through libpam: with a deciding module after us the decision is
 * that module's; alone, an all-ignore stack is PAM_PERM_DENIED (libpam's
 * PAM_MUST_FAIL_CODE). (Calling the entry point directly would prove nothing:
 * pam_get_data refuses callers outside a module, so it would always say IGNORE.) */
static void test_acct_mgmt_not_authenticated_by_us(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "account required $MOD $STD\n"
		      "account required pam_permit.so\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	fx_service(f, "account required $MOD $STD\n"
		      "account required pam_deny.so\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_AUTH_ERR);
	fx_service(f, "account required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	/* `account required pam_jwt.so` with no arguments reads /etc/security/pam_jwt.conf,
	 * which belongs to the host: tests/integration/test_default_config.sh checks it with a
	 * file of its own in a private mount namespace */
	assert_int_equal(cs.echo_off + cs.echo_on, 0);
}

static void test_acct_mgmt_rechecks_token(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	int rc;

	/* the account phase is stricter than the auth phase: refused there */
	fx_service(f, "auth required $MOD $STD\n"
		      "account required $MOD $STD require_claim=role:admin\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	rc = pam_acct_mgmt(f->pamh, 0);
	assert_true(rc == PAM_PERM_DENIED || rc == PAM_ACCT_EXPIRED);
	/* a failed auth leaves nothing for acct_mgmt: it ignores (pam_permit decides) */
	fx_service(f, "auth required $MOD $STD\n"
		      "account required $MOD $STD\n"
		      "account required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_AUTH_ERR);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	free(tok);
}

/* setcred sets nothing and succeeds, as pam_unix's does, whatever happened on the handle:
 * sshd calls it in another process than the one that authenticated, so a token-only stack
 * (`auth required pam_jwt.so`, no pam_permit) must pass it there. */
static void test_setcred_always_succeeds(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "auth required $MOD $STD\n");
	/* a fresh handle, as in sshd's other process: nothing authenticated on it */
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_REINITIALIZE_CRED), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_DELETE_CRED), PAM_SUCCESS);
	/* after a token-only authentication */
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	/* after a refusal on the same handle libpam replays authentication's outcome */
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_AUTH_ERR);
	assert_int_not_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	free(tok);
}

/* explain_refusal (default on): the allow-listed refusals reach the user through the
 * conversation, with a fixed text; nothing does for a token of another user, a forged one,
 * an unknown user, or with explain_refusal=no. */
static void test_explain_refusal(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *expired = mint(&g_es, KID_ES, g_user, -1200, -600, NULL);
	char *other = mint(&g_es, KID_ES, "someone-else", -1200, -600, NULL);
	char *forged = mint(&g_es_other, KID_ES, g_user, -1200, -600, NULL);
	char *ghost = mint(&g_es, KID_ES, NO_SUCH_USER, -1200, -600, NULL);
	char *aud = mint_es("{\"aud\":\"elsewhere\"}");
	char *plain = mint_es(NULL);

	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, expired), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 1);
	assert_string_equal(cs.info, "The token has expired: get a new one.");
	/* the user claim is checked first: another user's expired token tells nothing */
	assert_int_equal(fx_auth(f, g_user, &cs, other), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 0);
	assert_int_equal(fx_auth(f, g_user, &cs, forged), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 0);
	assert_int_equal(fx_auth(f, NO_SUCH_USER, &cs, ghost), PAM_USER_UNKNOWN);
	assert_int_equal(cs.infos, 0);
	assert_int_equal(fx_auth(f, g_user, &cs, "hunter2"), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 0);
	fx_service(f, "auth required $MOD $STD audience=here\n");
	assert_int_equal(fx_auth(f, g_user, &cs, aud), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 1);
	assert_non_null(strstr(cs.info, "another audience"));
	fx_service(f, "auth required $MOD $STD explain_refusal=no\n");
	assert_int_equal(fx_auth(f, g_user, &cs, expired), PAM_AUTH_ERR);
	assert_int_equal(cs.infos, 0);
	/* the account phase re-checks under its own options, and explains too */
	fx_service(f, "auth required $MOD $STD\n"
		      "account required $MOD $STD audience=acct\n");
	assert_int_equal(fx_auth(f, g_user, &cs, plain), PAM_SUCCESS);
	assert_int_equal(cs.infos, 0);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	assert_int_equal(cs.infos, 1);
	assert_non_null(strstr(cs.info, "names no audience"));
	free(expired);
	free(other);
	free(forged);
	free(ghost);
	free(aud);
	free(plain);
}

static void test_alg_none(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char payload[512];
	char *t1, *t2, *t3;

	assert_true(fits(snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld}",
				  g_user, (long long)time(NULL) + 600), sizeof(payload)));
	t1 = unsigned_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, "");
	t2 = unsigned_token("{\"alg\":\"none\",\"kid\":\"" KID_ES "\"}", payload, "AAAA");
	t3 = unsigned_token("{\"alg\":\"NONE\",\"kid\":\"" KID_ES "\"}", payload, "AAAA");
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, t1), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, t2), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, t3), PAM_AUTH_ERR);
	/* with ignore_non_jwt and a `required` stack: a JWT-shaped alg-none token is
	 * refused, not ignored */
	fx_service(f, "auth required $MOD $STD ignore_non_jwt\n"
		      "auth required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, t2), PAM_AUTH_ERR);
	free(t1);
	free(t2);
	free(t3);
}

static void test_alg_confusion_hs_with_public_key(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	json_t *jwk = jwk_from_key(&g_es, KID_ES);
	char *pub = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	struct jwa_key hs = { .alg = JWA_HS256 };
	char *tok;

	/* HS256 "signed" with the public JWK text as the secret, under the ES kid */
	assert_non_null(pub);
	hs.secret_len = strlen(pub);
	hs.secret = (unsigned char *)strdup(pub);
	tok = mint(&hs, KID_ES, g_user, 0, 600, NULL);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	jwa_key_clear(&hs);
	free(pub);
	json_decref(jwk);
	free(tok);
}

static void test_max_token_size(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char pad[20000], extra[20100];
	char *tok;

	memset(pad, 'x', 300);
	pad[300] = '\0';
	snprintf(extra, sizeof(extra), "{\"pad\": \"%s\"}", pad);
	tok = mint_es(extra);
	assert_true(strlen(tok) > 400 && strlen(tok) < 1024);
	fx_service(f, "auth required $MOD $STD max_token_size=400\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	fx_service(f, "auth required $MOD $STD max_token_size=1024\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
	/* over the 16 KiB default */
	memset(pad, 'x', 12500);
	pad[12500] = '\0';
	snprintf(extra, sizeof(extra), "{\"pad\": \"%s\"}", pad);
	tok = mint_es(extra);
	assert_true(strlen(tok) > 16384);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	fx_service(f, "auth required $MOD $STD max_token_size=65536\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
}

static void test_conversation_failure(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	/* the conversation has no answer: the module fails, not succeeds */
	fx_service(f, "auth required $MOD $STD\n");
	conv_answers(&cs, NULL, NULL);
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_authenticate(f->pamh, 0), PAM_CONV_ERR);
	assert_int_equal(cs.echo_off, 1);
}

static void test_exported_symbols(void **state)
{
	void *mod = open_module();
	static const char *const wanted[] = { "pam_sm_authenticate", "pam_sm_setcred",
					      "pam_sm_acct_mgmt", "pam_sm_open_session",
					      "pam_sm_close_session" };
	static const char *const hidden[] = { "jws_verify", "config_set", "jwt_verify",
					      "b64url_decode", "keyset_select", "secfile_read",
					      "claims_check", "jwt_mint", "clock_set",
					      "store_open", "session_check_jwt" };
	char cmd[PATH_MAX + 64], line[512], type[8], name[256], addr[64];
	unsigned int seen = 0, lines = 0;
	size_t i;
	FILE *p;

	(void)state;
	for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
		assert_non_null(dlsym(mod, wanted[i]));
	for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (dlsym(mod, hidden[i]) != NULL)
			fail_msg("module exports %s", hidden[i]);
	}
	dlclose(mod);
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>&1", g_module);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		lines++;
		if (sscanf(line, "%63s %7s %255s", addr, type, name) != 3)
			fail_msg("unexpected nm output: %s", line);
		if (strncmp(name, "pam_sm_", 7) != 0)
			fail_msg("module exports a symbol that is not pam_sm_*: %s", line);
		for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
			if (strcmp(name, wanted[i]) == 0)
				seen |= 1u << i;
	}
	assert_int_equal(pclose(p), 0);
	assert_int_equal(seen, 31u);
	assert_int_equal(lines, 5u);
}

/* ---- sessions and the store ------------------------------------------------------------ */

static struct store *fx_store(const struct fx *f)
{
	struct store_options opts = { .allow_non_tmpfs = true };
	struct store *st = NULL;
	struct verdict v;

	verdict_init(&v);
	if (store_open(f->store, &opts, &st, &v) != 0)
		fail_msg("store_open(%s): %s", f->store, v.reason);
	return st;
}

struct scan_count {
	size_t n;
	struct store_session last;
};

static int count_one(const struct store_session *sess, void *ctx)
{
	struct scan_count *c = ctx;

	c->n++;
	c->last = *sess;
	return 0;
}

/* How many session records the store holds (the last one in *last, may be NULL). */
static size_t fx_session_count(const struct fx *f, struct store_session *last)
{
	struct store *st = fx_store(f);
	struct scan_count c;
	struct verdict v;
	size_t unreadable = 0;

	memset(&c, 0, sizeof(c));
	verdict_init(&v);
	assert_int_equal(store_session_scan(st, NULL, count_one, &c, &unreadable, &v), 0);
	assert_int_equal(unreadable, 0);
	store_close(st);
	if (last != NULL)
		*last = c.last;
	return c.n;
}

/* Write a session record through the store API: times relative to now. */
static void fx_put_session(const struct fx *f, const char *user, const char *service,
			   long created_delta, long expires_delta, long idle, long seen_delta,
			   char id[STORE_SESSION_ID_LEN + 1], char digest[STORE_DIGEST_HEX_LEN + 1])
{
	int64_t now = (int64_t)time(NULL);
	struct store *st = fx_store(f);
	struct store_session sess;
	struct verdict v;

	memset(&sess, 0, sizeof(sess));
	snprintf(sess.user, sizeof(sess.user), "%s", user);
	snprintf(sess.service, sizeof(sess.service), "%s", service);
	snprintf(sess.tty, sizeof(sess.tty), "pts/9");
	sess.uid = getuid();
	sess.leader_pid = getpid();
	sess.created = now + created_delta;
	sess.expires = now + expires_delta;
	sess.idle_timeout = idle;
	sess.last_seen = now + seen_delta;
	verdict_init(&v);
	assert_int_equal(store_session_id_new(id), 0);
	store_digest_hex(id, strlen(id), digest);
	if (store_session_put(st, id, &sess, &v) != 0)
		fail_msg("store_session_put: %s", v.reason);
	store_close(st);
}

static void fx_live_session(const struct fx *f, char id[STORE_SESSION_ID_LEN + 1],
			    char digest[STORE_DIGEST_HEX_LEN + 1])
{
	fx_put_session(f, g_user, SERVICE, 0, 3600, 0, 0, id, digest);
}

static void fx_delete_session(const struct fx *f, const char *digest)
{
	struct store *st = fx_store(f);
	struct verdict v;

	verdict_init(&v);
	assert_int_equal(store_session_delete(st, digest, &v), 0);
	store_close(st);
}

/* The jti mint() put in the token it made last. */
static void last_jti(char *out, size_t size)
{
	snprintf(out, size, "t-%d", g_jti);
}

static void test_open_close_session_records(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store_session rec;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_set_item(f->pamh, PAM_TTY, "pts/3"), PAM_SUCCESS);
	assert_int_equal(pam_set_item(f->pamh, PAM_RHOST, "192.0.2.7"), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 0);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, &rec), 1);
	assert_string_equal(rec.user, g_user);
	assert_int_equal(rec.uid, getuid());
	assert_string_equal(rec.service, SERVICE);
	assert_string_equal(rec.tty, "pts/3");
	assert_string_equal(rec.rhost, "192.0.2.7");
	assert_int_equal(rec.leader_pid, getpid());
	assert_true(rec.expires - rec.created == 8 * 3600);
	assert_int_equal(rec.idle_timeout, 0);
	/* nothing announced unless asked */
	assert_int_equal(cs.infos, 0);
	assert_null(pam_getenv(f->pamh, "PAM_JWT_SESSION"));
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 0);
	/* a close without an open of ours: ignored (pam_permit decides) */
	fx_service(f, "session required $MOD $STD\nsession required pam_permit.so\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	/* session_ttl and idle_timeout go into the record */
	fx_service(f, "session required $MOD $STD session_ttl=30m idle_timeout=5m\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, &rec), 1);
	assert_true(rec.expires - rec.created == 1800);
	assert_int_equal(rec.idle_timeout, 300);
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 0);
}

/* PAM_TTY and PAM_RHOST hold whatever the application set: the record gets '?' for every
 * byte outside printable ASCII (and for space), so it is written and lists, JSON too. */
static void test_open_session_hostile_items(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store_session rec;
	json_t *tty, *rhost;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_set_item(f->pamh, PAM_TTY, "tty\xff\x1b[31m"), PAM_SUCCESS);
	assert_int_equal(pam_set_item(f->pamh, PAM_RHOST, "evil\nhost \xc3\xa9"), PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, &rec), 1);
	assert_string_equal(rec.user, g_user);
	assert_string_equal(rec.service, SERVICE);
	assert_string_equal(rec.tty, "tty??[31m");
	assert_string_equal(rec.rhost, "evil?host???");
	tty = json_string(rec.tty);
	rhost = json_string(rec.rhost);
	assert_non_null(tty);
	assert_non_null(rhost);
	json_decref(tty);
	json_decref(rhost);
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 0);
}

static void test_open_session_store_unusable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(chmod(f->store, 0755), 0);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SESSION_ERR);
	assert_int_equal(chmod(f->store, 0700), 0);
	assert_int_equal(fx_session_count(f, NULL), 0);
	/* a missing store is an error too */
	fx_service(f, "session required $MOD config=$CONF store_dir=$DIR/nostore\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SESSION_ERR);
}

/* Open an announced session on a handle of its own; the ID it showed into id. */
static void fx_open_announced(struct fx *f, char id[STORE_SESSION_ID_LEN + 1])
{
	struct conv_state cs;
	const char *env;
	char want[128];

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD announce_session\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	env = pam_getenv(f->pamh, "PAM_JWT_SESSION");
	assert_non_null(env);
	assert_int_equal(strlen(env), STORE_SESSION_ID_LEN);
	assert_true(store_session_id_looks_like(env, strlen(env)));
	assert_int_equal(cs.infos, 1);
	snprintf(want, sizeof(want), "Session ID: %s", env);
	assert_string_equal(cs.info, want);
	snprintf(id, STORE_SESSION_ID_LEN + 1, "%s", env);
}

static void test_announce_session(void **state)
{
	struct fx *f = *state;
	struct store_session rec;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];

	fx_open_announced(f, id);
	assert_int_equal(fx_session_count(f, &rec), 1);
	/* the record is named by the ID's digest and holds no ID */
	store_digest_hex(id, strlen(id), digest);
	assert_string_equal(rec.digest, digest);
	fx_end(f, PAM_SUCCESS);
}

static void test_session_id_login(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	struct store *st;
	struct verdict v;
	size_t n = 0;

	fx_open_announced(f, id);
	store_digest_hex(id, strlen(id), digest);
	/* a later login with the ID (sudo, a second ssh) */
	fx_service(f, "auth required $MOD $STD\naccount required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_setcred(f->pamh, PAM_ESTABLISH_CRED), PAM_SUCCESS);
	/* revoked between auth and account: the account phase refuses */
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	fx_delete_session(f, digest);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	/* and any later login with it fails */
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	/* revoke by user */
	fx_live_session(f, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	st = fx_store(f);
	verdict_init(&v);
	assert_int_equal(store_revoke_user(st, g_user, NULL, NULL, &n, &v), 0);
	store_close(st);
	assert_true(n >= 1);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	/* a well-formed ID the store never issued */
	assert_int_equal(fx_auth(f, g_user, &cs, "pjs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
			 PAM_AUTH_ERR);
}

static void test_session_expired_idle_wrong_user(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];

	fx_service(f, "auth required $MOD $STD\n");
	/* control: live */
	fx_put_session(f, g_user, SERVICE, -60, 3600, 600, -10, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	/* expired */
	fx_put_session(f, g_user, SERVICE, -7200, -3600, 0, -3700, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	/* idle past its limit */
	fx_put_session(f, g_user, SERVICE, -7200, 3600, 600, -3600, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	/* someone else's session */
	fx_put_session(f, "someone-else", SERVICE, 0, 3600, 0, 0, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
}

static void test_session_bind_service(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];

	fx_put_session(f, g_user, "other-service", 0, 3600, 0, 0, id, digest);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	fx_service(f, "auth required $MOD $STD bind_service\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	fx_put_session(f, g_user, SERVICE, 0, 3600, 0, 0, id, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
}

static void test_accept_lists(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	char *tok = mint_es(NULL);

	fx_live_session(f, id, digest);
	fx_service(f, "auth required $MOD $STD accept=jwt\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	fx_service(f, "auth required $MOD $STD accept=session\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	/* session only: no key needed */
	fx_service(f, "auth required $MOD config=$CONF accept=session\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	/* accept=jwt with ignore_non_jwt: a session ID is not ours */
	fx_service(f, "auth required $MOD $STD accept=jwt ignore_non_jwt\n"
		      "auth required pam_permit.so\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	fx_service(f, "auth required $MOD $STD accept=bogus\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SERVICE_ERR);
	free(tok);
}

static void test_revoked_jti(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL), *other = NULL;
	char jti[32];
	struct store *st;
	struct verdict v;

	last_jti(jti, sizeof(jti));
	fx_service(f, "auth required $MOD $STD\naccount required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	/* revoked between auth and account */
	st = fx_store(f);
	verdict_init(&v);
	assert_int_equal(store_jti_revoke(st, jti, (int64_t)time(NULL) + 600, &v), 0);
	store_close(st);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	/* another token is untouched */
	other = mint_es(NULL);
	assert_int_equal(fx_auth(f, g_user, &cs, other), PAM_SUCCESS);
	free(tok);
	free(other);
}

static void test_require_session(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	char extra[256];
	char *plain = mint_es(NULL), *tok, *bad;

	fx_live_session(f, id, digest);
	snprintf(extra, sizeof(extra), "{\"sid\": \"%s\"}", digest);
	tok = mint_es(extra);
	/* a sid that is a session ID rather than its digest is refused */
	snprintf(extra, sizeof(extra), "{\"sid\": \"%s\"}", id);
	bad = mint_es(extra);
	fx_service(f, "auth required $MOD $STD require_session\n"
		      "account required $MOD $STD require_session\n");
	assert_int_equal(fx_auth(f, g_user, &cs, plain), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, bad), PAM_AUTH_ERR);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	/* the session ends: the token stops working, in the account phase too */
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	fx_delete_session(f, digest);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	free(tok);
	/* a live session of another user */
	fx_put_session(f, "someone-else", SERVICE, 0, 3600, 0, 0, id, digest);
	snprintf(extra, sizeof(extra), "{\"sid\": \"%s\"}", digest);
	tok = mint_es(extra);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	/* without require_session the plain token is fine */
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, plain), PAM_SUCCESS);
	free(tok);
	free(bad);
	free(plain);
}

static void test_single_use(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL), *no_jti;
	int64_t now = (int64_t)time(NULL);
	json_t *claims;

	fx_service(f, "auth required $MOD $STD single_use\n"
		      "account required $MOD $STD single_use\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	/* the account phase does not use it up again */
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	/* a replay is refused */
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	/* a token without jti cannot be single-use */
	claims = json_pack("{s:s, s:I, s:I}", "sub", g_user, "iat", (json_int_t)now, "exp",
			   (json_int_t)(now + 600));
	assert_non_null(claims);
	no_jti = jwt_mint(&g_es, KID_ES, claims);
	json_decref(claims);
	assert_non_null(no_jti);
	assert_int_equal(fx_auth(f, g_user, &cs, no_jti), PAM_AUTH_ERR);
	/* without single_use both work, repeatedly */
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, no_jti), PAM_SUCCESS);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	free(tok);
	free(no_jti);
}

static void test_locked_user(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store *st;
	struct verdict v;
	char *tok = mint_es(NULL);

	st = fx_store(f);
	verdict_init(&v);
	assert_int_equal(store_user_lock(st, g_user, 0, &v), 0);
	store_close(st);
	/* a login we did not authenticate (an SSH key): refused in the account phase */
	conv_answers(&cs, NULL, NULL);
	fx_service(f, "account required $MOD $STD\naccount required pam_permit.so\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_PERM_DENIED);
	/* and a token login too */
	fx_service(f, "auth required $MOD $STD\naccount required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTH_ERR);
	st = fx_store(f);
	assert_int_equal(store_user_unlock(st, g_user, &v), 0);
	store_close(st);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	fx_service(f, "account required $MOD $STD\naccount required pam_permit.so\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_acct_mgmt(f->pamh, 0), PAM_SUCCESS);
	free(tok);
}

static void test_store_unusable(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	char *tok = mint_es(NULL);
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];

	fx_live_session(f, id, digest);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(chmod(f->store, 0755), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(chmod(f->store, 0700), 0);
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	/* not tmpfs, and not allowed to be */
	fx_service(f, "auth required $MOD $STD allow_non_tmpfs=no\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	/* a missing store */
	fx_service(f, "auth required $MOD $STD store_dir=$DIR/nostore\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_AUTHINFO_UNAVAIL);
	free(tok);
}

/* A login authenticated by a session ID opens a child session: it remembers its parent,
 * expires no later, and ends with it. */
static void test_child_session_from_session_id(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store_session rec;
	struct store *st;
	struct verdict v;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1];
	char child_id[STORE_SESSION_ID_LEN + 1];
	const char *env;

	fx_put_session(f, g_user, SERVICE, 0, 600, 0, 0, id, digest);
	fx_service(f, "auth required $MOD $STD\nsession required $MOD $STD announce_session\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	/* what authenticated the login travels in the PAM environment too (sshd) */
	env = pam_getenv(f->pamh, "PAM_JWT_AUTH_ORIGIN");
	assert_non_null(env);
	assert_true(strncmp(env, "session:", 8) == 0 && strcmp(env + 8, digest) == 0);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	/* open_session took it out of the environment the user gets */
	assert_null(pam_getenv(f->pamh, "PAM_JWT_AUTH_ORIGIN"));
	snprintf(child_id, sizeof(child_id), "%s", pam_getenv(f->pamh, "PAM_JWT_SESSION"));
	st = fx_store(f);
	verdict_init(&v);
	assert_int_equal(store_session_get(st, child_id, &rec, &v), 0);
	assert_string_equal(rec.parent, digest);
	/* it expires with its parent (600 s), not after session_ttl (8 h) */
	assert_true(rec.expires <= (int64_t)time(NULL) + 600);
	store_close(st);
	/* the child's ID works while the parent lives ... */
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, child_id), PAM_SUCCESS);
	/* ... and revoking the parent ends the child too */
	fx_delete_session(f, digest);
	assert_int_equal(fx_auth(f, g_user, &cs, child_id), PAM_AUTH_ERR);
	assert_int_equal(fx_session_count(f, NULL), 0);
}

/* A session opened by a JWT is refused once that token's jti is revoked. */
static void test_session_from_revoked_jti(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store *st;
	struct verdict v;
	char *tok = mint_es(NULL), jti[32], id[STORE_SESSION_ID_LEN + 1];
	char jti_digest[STORE_DIGEST_HEX_LEN + 1];
	struct store_session rec;
	size_t n = 0;

	last_jti(jti, sizeof(jti));
	store_digest_hex(jti, strlen(jti), jti_digest);
	fx_service(f, "auth required $MOD $STD\nsession required $MOD $STD announce_session\n");
	assert_int_equal(fx_auth(f, g_user, &cs, tok), PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	snprintf(id, sizeof(id), "%s", pam_getenv(f->pamh, "PAM_JWT_SESSION"));
	st = fx_store(f);
	verdict_init(&v);
	assert_int_equal(store_session_get(st, id, &rec, &v), 0);
	assert_string_equal(rec.origin_jti, jti_digest);
	assert_string_equal(rec.parent, "");
	store_close(st);
	fx_service(f, "auth required $MOD $STD\n");
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_SUCCESS);
	/* revoking the jti alone (no eager removal) already stops the session's ID */
	st = fx_store(f);
	assert_int_equal(store_jti_revoke(st, jti, (int64_t)time(NULL) + 600, &v), 0);
	store_close(st);
	assert_int_equal(fx_auth(f, g_user, &cs, id), PAM_AUTH_ERR);
	/* and the eager removal finds exactly that session */
	st = fx_store(f);
	assert_int_equal(store_revoke_jti_sessions(st, jti, NULL, NULL, &n, &v), 0);
	store_close(st);
	assert_int_equal(n, 1);
	free(tok);
}

/* open_session in another process than auth (sshd): the origin comes from the
 * environment; a malformed one refuses the session; a forged one can only shorten it. */
static void test_origin_from_environment(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;
	struct store_session rec;
	char id[STORE_SESSION_ID_LEN + 1], digest[STORE_DIGEST_HEX_LEN + 1], env[128];

	fx_put_session(f, g_user, SERVICE, 0, 300, 0, 0, id, digest);
	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	snprintf(env, sizeof(env), "PAM_JWT_AUTH_ORIGIN=session:%s", digest);
	assert_int_equal(pam_putenv(f->pamh, env), PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_null(pam_getenv(f->pamh, "PAM_JWT_AUTH_ORIGIN"));
	assert_int_equal(fx_session_count(f, NULL), 2);
	fx_end(f, PAM_SUCCESS);
	/* a parent that does not exist: no session */
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_putenv(f->pamh, "PAM_JWT_AUTH_ORIGIN=session:"
				    "0000000000000000000000000000000000000000000000000000000000000000"),
			 PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SESSION_ERR);
	fx_end(f, PAM_SUCCESS);
	/* malformed: refused, nothing recorded */
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_putenv(f->pamh, "PAM_JWT_AUTH_ORIGIN=session:nothex"), PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SESSION_ERR);
	fx_end(f, PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, &rec), 2);
}

/* A second open_session on one handle keeps the first session and records no other. */
static void test_open_session_twice(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 1);
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 0);
}

/* issue_tokens is a convenience: with pam-jwtd down the login still gets its session. */
static void test_issue_tokens_daemon_down(void **state)
{
	struct fx *f = *state;
	struct conv_state cs;

	conv_answers(&cs, NULL, NULL);
	fx_service(f, "session required $MOD $STD issue_tokens socket_path=$DIR/no.sock\n");
	fx_start(f, g_user, &cs);
	assert_int_equal(pam_open_session(f->pamh, 0), PAM_SUCCESS);
	assert_int_equal(fx_session_count(f, NULL), 1);
	assert_int_equal(pam_close_session(f->pamh, 0), PAM_SUCCESS);
	/* bad values of the new options are configuration errors */
	fx_service(f, "auth required $MOD $STD token_source=clipboard\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "x"), PAM_SERVICE_ERR);
	fx_service(f, "auth required $MOD $STD access_ttl=5m refresh_ahead=5m\n");
	assert_int_equal(fx_auth(f, g_user, &cs, "x"), PAM_SERVICE_ERR);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_valid_token_auth_acct_setcred),
		T(test_hmac_jwks_private_ok),
		T(test_pem_key_option),
		T(test_bad_signature),
		T(test_tampered_payload),
		T(test_expired),
		T(test_wrong_user),
		T(test_user_not_in_passwd),
		T(test_jwks_missing_or_unreadable),
		T(test_jwks_group_writable),
		T(test_jwks_dir_group_writable),
		T(test_hmac_jwks_world_readable),
		T(test_unknown_option),
		T(test_bad_value),
		T(test_no_keys_configured),
		T(test_config_file_unknown_key),
		T(test_config_file_unsafe_or_missing),
		T(test_argument_overrides_config),
		T(test_require_claim),
		T(test_issuer),
		T(test_prompt_text),
		T(test_use_first_pass_after_prompting_module),
		T(test_use_first_pass_without_authtok),
		T(test_try_first_pass),
		T(test_ignore_non_jwt_sufficient),
		T(test_ignore_non_jwt_returns_ignore),
		T(test_non_jwt_without_ignore),
		T(test_acct_mgmt_not_authenticated_by_us),
		T(test_acct_mgmt_rechecks_token),
		T(test_setcred_always_succeeds),
		T(test_explain_refusal),
		T(test_alg_none),
		T(test_alg_confusion_hs_with_public_key),
		T(test_max_token_size),
		T(test_conversation_failure),
		T(test_open_close_session_records),
		T(test_open_session_hostile_items),
		T(test_open_session_store_unusable),
		T(test_announce_session),
		T(test_session_id_login),
		T(test_session_expired_idle_wrong_user),
		T(test_session_bind_service),
		T(test_accept_lists),
		T(test_revoked_jti),
		T(test_require_session),
		T(test_single_use),
		T(test_locked_user),
		T(test_child_session_from_session_id),
		T(test_session_from_revoked_jti),
		T(test_origin_from_environment),
		T(test_open_session_twice),
		T(test_issue_tokens_daemon_down),
		T(test_store_unusable),
		cmocka_unit_test(test_exported_symbols),
	};

	return cmocka_run_group_tests_name("pam_stack", tests, group_setup, group_teardown);
}
