/*
 * pam-jwtctl — verify tokens exactly as pam_jwt.so does, generate keys, issue tokens,
 * list and revoke sessions, revoke token ids, lock users.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "admin.h"
#include "b64url.h"
#include "clock.h"
#include "config.h"
#include "jws.h"
#include "jwt.h"
#include "keys.h"
#include "secfile.h"
#include "secmem.h"
#include "session.h"
#include "store.h"
#include "user.h"
#include "verdict.h"

#include "jwksfetch.h"
#include "jwtctl.h"
#include "version.h"


#define TOKEN_READ_MAX (64 * 1024)

/* The usage of the command being run (all commands before one is chosen). */
static void usage(FILE *out);

static int exit_for(enum verdict_code code)
{
	return code == VERDICT_OK ? EXIT_ACCEPTED :
	       code == VERDICT_REJECT ? EXIT_REFUSED : EXIT_UNAVAILABLE;
}

static void print_verdict(const struct verdict *v)
{
	char text[VERDICT_TEXT_MAX];

	verdict_describe(v, text, sizeof(text));
	if (v->code == VERDICT_OK)
		printf("accepted%s%s\n", strchr(text, '(') ? " " : "",
		       strchr(text, '(') ? strchr(text, '(') : "");
	else
		printf("%s: %s\n", verdict_code_name(v->code), text);
}

/* {"result": "accepted"|"refused"|..., "reason": TEXT or null} */
static void print_verdict_json(const struct verdict *v)
{
	char text[VERDICT_TEXT_MAX];
	json_t *doc;

	verdict_describe(v, text, sizeof(text));
	doc = json_pack("{s:s, s:o}", "result",
			v->code == VERDICT_OK ? "accepted" : verdict_code_name(v->code), "reason",
			v->code == VERDICT_OK ? json_null() : json_string(text));
	if (doc != NULL)
		ctl_print_json(doc);
	else
		print_verdict(v);
	json_decref(doc);
}

/* The token: an argument (then wiped from argv, though stdin is the safer way), or one
 * line from stdin (for "-" or none). Caller wipes it. */
static char *read_token(char *arg)
{
	char *buf;
	size_t len = 0;
	int c;

	if (arg != NULL && strcmp(arg, "-") != 0) {
		buf = strdup(arg);
		OPENSSL_cleanse(arg, strlen(arg));
		return buf;
	}
	buf = malloc(TOKEN_READ_MAX + 1);
	if (buf == NULL)
		return NULL;
	while ((c = getchar()) != EOF && c != '\n' && len < TOKEN_READ_MAX)
		buf[len++] = (char)c;
	while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	return buf;
}

/* -v: show what the token says, marked unverified unless it was accepted. */
static void print_decoded(const char *token, int verified)
{
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
	unsigned char *part = NULL;
	size_t len = 0;
	json_t *doc;
	const char *label = verified ? "" : " (unverified)";

	if (dot2 == NULL)
		return;
	if (b64url_decode_alloc(token, (size_t)(dot1 - token), &part, &len) == 0) {
		doc = json_loadb((const char *)part, len, 0, NULL);
		if (doc != NULL) {
			printf("header%s: ", label);
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
			putchar('\n');
		}
		json_decref(doc);
		free(part);
	}
	if (b64url_decode_alloc(dot1 + 1, (size_t)(dot2 - dot1 - 1), &part, &len) == 0) {
		doc = json_loadb((const char *)part, len, 0, NULL);
		if (doc != NULL) {
			printf("claims%s: ", label);
			json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
			putchar('\n');
		}
		json_decref(doc);
		secmem_free(part, len);
	}
}

/* An absolute form of a path given on the command line, without resolving symbolic links
 * (the file checks must still see and refuse a link). */
static char *absolute_path(const char *path)
{
	char cwd[4096], *out = NULL;
	size_t len;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	len = strlen(cwd) + 1 + strlen(path) + 1;
	out = malloc(len);
	if (out != NULL)
		snprintf(out, len, "%s/%s", cwd, path);
	return out;
}

/* What loading the keys noted (keys skipped, a key or file refused), on stderr. */
static void print_key_notes(const struct keyset_notes *notes)
{
	size_t i;

	for (i = 0; i < notes->count; i++)
		fprintf(stderr, "notice: %s\n", notes->line[i]);
	if (notes->dropped > 0)
		fprintf(stderr, "notice: %zu more note(s) about keys not shown\n", notes->dropped);
}

/* --key FILE for --jws-only: "ALG:PATH" (PEM or raw secret) or a JWK/JWKS file. */
static int keyset_from_key_arg(struct keyset *ks, const char *arg, struct verdict *v)
{
	const char *colon = strchr(arg, ':'), *path = arg;
	char alg_name[16], *abs_path = NULL;
	enum jwa_alg alg = JWA_INVALID;
	int rc = -1;

	if (arg[0] != '/' && colon != NULL && (size_t)(colon - arg) < sizeof(alg_name)) {
		memcpy(alg_name, arg, (size_t)(colon - arg));
		alg_name[colon - arg] = '\0';
		alg = jwa_alg_from_name(alg_name);
		if (alg == JWA_INVALID) {
			verdict_set(v, VERDICT_BAD_CONFIG, "unsupported algorithm in --key");
			goto out;
		}
		path = colon + 1;
	}
	abs_path = absolute_path(path);
	if (abs_path == NULL) {
		verdict_set(v, VERDICT_UNAVAILABLE, "cannot make the key path absolute");
		goto out;
	}
	rc = alg != JWA_INVALID ? keyset_add_file(ks, alg, NULL, abs_path, v) :
				  keyset_add_jwks_file(ks, abs_path, v);
out:
	free(abs_path);
	return rc;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "service", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "jws-only", no_argument, NULL, 'J' },
		{ "key", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONFIG_DEFAULT_PATH, *user = NULL, *key_arg = NULL;
	const char *service = NULL;
	int verbose = 0, jws_only = 0, json = 0, c, keys_rc, rc = EXIT_UNAVAILABLE;
	struct config cfg;
	struct verdict v;
	struct keyset *ks = NULL;
	struct store *st = NULL;
	struct jws_result jws;
	struct jwt_verified verified;
	struct keyset_notes notes;
	struct jwt_refetch rf;
	char *token = NULL;
	int64_t now = clock_now();

	memset(&cfg, 0, sizeof(cfg));
	memset(&jws, 0, sizeof(jws));
	memset(&verified, 0, sizeof(verified));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "c:u:s:v", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'u': user = optarg; break;
		case 's': service = optarg; break; /* for single_use and bind_service */
		case 'v': verbose = 1; break;
		case 'J': jws_only = 1; break;
		case 'k': key_arg = optarg; break;
		case 'j': json = 1; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind + 1 < argc || (jws_only && key_arg == NULL) || (json && verbose)) {
		usage(stderr);
		goto out;
	}
	token = read_token(optind < argc ? argv[optind] : NULL);
	if (token == NULL) {
		fprintf(stderr, "pam-jwtctl: out of memory\n");
		goto out;
	}
	if (config_init(&cfg) != 0) {
		fprintf(stderr, "pam-jwtctl: out of memory\n");
		goto out;
	}
	if (jws_only) {
		ks = keyset_new();
		if (ks == NULL) {
			verdict_set(&v, VERDICT_UNAVAILABLE, "out of memory");
			goto report;
		}
		keys_rc = keyset_from_key_arg(ks, key_arg, &v);
		print_key_notes(&ks->notes);
		if (keys_rc != 0 ||
		    jws_verify(token, strlen(token), cfg.max_token_size, ks, &jws, &v) != 0)
			goto report;
		verdict_ok(&v);
	} else {
		if (config_load_file(&cfg, config_path, &v) != 0 || config_validate(&cfg, &v) != 0)
			goto report;
		keys_rc = jwt_keyset_load(&cfg, &ks, &notes, &v);
		print_key_notes(&notes);
		if (keys_rc != 0)
			goto report;
		/* The store is needed exactly as the module needs it; its checks run read-only:
		 * verify never uses up a single-use token. */
		keys_rc = jwt_verify_refetch(&cfg, &ks, &notes, token, user, now, &verified, &rf,
					     &v);
		if (rf.asked)
			fprintf(stderr, "notice: token kid unknown; asked pam-jwtd for the issuer's "
				"keys: %s\n", rf.answer);
		if (keys_rc != 0 || session_store_open(&cfg, true, &st, &v) != 0)
			goto report;
		session_check_jwt(st, &cfg, &verified, user, service, now, false, &v);
	}
report:
	if (verbose)
		print_decoded(token, v.code == VERDICT_OK);
	if (json)
		print_verdict_json(&v);
	else
		print_verdict(&v);
	rc = exit_for(v.code);
out:
	jwt_verified_clear(&verified);
	store_close(st);
	jws_result_clear(&jws);
	keyset_free(ks);
	config_free(&cfg);
	secmem_free_string(token);
	return rc;
}

static int valid_kid(const char *kid)
{
	size_t i, len = strlen(kid);

	if (len == 0 || len > 64 || kid[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!((kid[i] >= 'a' && kid[i] <= 'z') || (kid[i] >= 'A' && kid[i] <= 'Z') ||
		      (kid[i] >= '0' && kid[i] <= '9') || strchr("._-", kid[i]) != NULL))
			return 0;
	return 1;
}

static char *path_join(const char *dir, const char *name, const char *suffix)
{
	size_t len = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
	char *p = malloc(len);

	if (p != NULL)
		snprintf(p, len, "%s/%s%s", dir, name, suffix);
	return p;
}

/* keygen's progress: a dot per few steps of the search for an RSA key, on a terminal. */
struct progress {
	bool shown;
	unsigned int ticks, dots;
};

static void keygen_dot(void *ctx)
{
	struct progress *p = ctx;

	if (p->shown && ++p->ticks % 16 == 0 && p->dots < 60) {
		fputc('.', stderr);
		p->dots++;
	}
}

/* The public key as PEM (SubjectPublicKeyInfo), as `key = ALG:FILE` takes it. */
static char *public_pem(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long len;

	if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1)
		goto out;
	len = BIO_get_mem_data(bio, &data);
	if (len > 0)
		out = strndup(data, (size_t)len);
out:
	BIO_free(bio);
	return out;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "alg", required_argument, NULL, 'a' },
		{ "kid", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' },
		{ "bits", required_argument, NULL, 'b' },
		{ "pem", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *alg_name = NULL, *kid = NULL, *dir = NULL;
	char *pem = NULL, *pem_path = NULL;
	bool want_pem = false;
	struct progress prog = { 0 };
	unsigned int bits = 2048;
	unsigned long bits_arg;
	char *end = NULL;
	struct jwa_key key;
	struct verdict v;
	json_t *jwk = NULL, *jwks = NULL, *priv_jwk = NULL;
	char *priv = NULL, *pub = NULL, *key_path = NULL, *jwks_path = NULL, *abs_dir = NULL;
	size_t priv_len = 0;
	int c, rc = EXIT_UNAVAILABLE, hmac = 0;

	memset(&key, 0, sizeof(key));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': alg_name = optarg; break;
		case 'k': kid = optarg; break;
		case 'o': dir = optarg; break;
		case 'p': want_pem = true; break;
		case 'b':
			errno = 0;
			bits_arg = strtoul(optarg, &end, 10);
			bits = errno == 0 && *end == '\0' && bits_arg <= 16384 ? (unsigned int)bits_arg : 0;
			break;
		default: usage(stderr); goto out;
		}
	}
	if (alg_name == NULL || kid == NULL || dir == NULL || optind != argc) {
		usage(stderr);
		goto out;
	}
	key.alg = jwa_alg_from_name(alg_name);
	if (key.alg == JWA_INVALID || !valid_kid(kid) || bits < 2048 || bits > 16384) {
		fprintf(stderr, "pam-jwtctl: bad --alg, --kid ([A-Za-z0-9._-], up to 64) or --bits\n");
		goto out;
	}
	abs_dir = realpath(dir, NULL);
	if (abs_dir == NULL) {
		fprintf(stderr, "pam-jwtctl: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	hmac = jwa_alg_family(key.alg) == JWA_FAMILY_HMAC;
	if (hmac) {
		key.secret_len = jwa_hash_size(key.alg);
		key.secret = malloc(key.secret_len);
		if (key.secret != NULL && RAND_bytes(key.secret, (int)key.secret_len) != 1) {
			secmem_free(key.secret, key.secret_len);
			key.secret = NULL;
		}
	} else {
		/* RSA takes seconds: dots on a terminal, so it does not look hung */
		prog.shown = isatty(STDERR_FILENO);
		if (prog.shown && jwa_alg_family(key.alg) != JWA_FAMILY_EC &&
		    jwa_alg_family(key.alg) != JWA_FAMILY_EDDSA)
			fprintf(stderr, "generating a %u-bit RSA key ", bits);
		key.pkey = jwa_pkey_generate_progress(key.alg, bits, keygen_dot, &prog);
		if (prog.dots > 0)
			fputc('\n', stderr);
	}
	if (want_pem && hmac) {
		fprintf(stderr, "pam-jwtctl: --pem: an HMAC key has no public key\n");
		goto out;
	}
	jwk = key.pkey != NULL || key.secret != NULL ? jwk_from_key(&key, kid) : NULL;
	jwks = jwk != NULL ? json_pack("{s:[O]}", "keys", jwk) : NULL;
	priv_jwk = jwks != NULL ? jwk_from_private_key(&key, kid) : NULL;
	priv = priv_jwk != NULL ? json_dumps(priv_jwk, JSON_INDENT(2)) : NULL;
	pub = jwks != NULL ? json_dumps(jwks, JSON_INDENT(2)) : NULL;
	key_path = path_join(abs_dir, kid, ".key");
	jwks_path = path_join(abs_dir, kid, ".jwks");
	if (priv == NULL || pub == NULL || key_path == NULL || jwks_path == NULL) {
		fprintf(stderr, "pam-jwtctl: key generation failed\n");
		goto out;
	}
	priv_len = strlen(priv);
	if (want_pem && ((pem = public_pem(key.pkey)) == NULL ||
			 (pem_path = path_join(abs_dir, kid, ".pem")) == NULL)) {
		fprintf(stderr, "pam-jwtctl: key generation failed\n");
		goto out;
	}
	if (access(key_path, F_OK) == 0 || access(jwks_path, F_OK) == 0 ||
	    (pem_path != NULL && access(pem_path, F_OK) == 0)) {
		fprintf(stderr, "pam-jwtctl: %s, %s or %s.pem exists; remove it first\n", key_path,
			jwks_path, kid);
		goto out;
	}
	if (secfile_write_atomic(key_path, priv, priv_len, 0600, &v) != 0 ||
	    secfile_write_atomic(jwks_path, pub, strlen(pub), hmac ? 0600 : 0644, &v) != 0) {
		fprintf(stderr, "pam-jwtctl: %s\n", v.reason);
		goto out;
	}
	if (pem_path != NULL &&
	    secfile_write_atomic(pem_path, pem, strlen(pem), 0644, &v) != 0) {
		fprintf(stderr, "pam-jwtctl: %s\n", v.reason);
		goto out;
	}
	printf("%s\n%s\n", key_path, jwks_path);
	if (pem_path != NULL)
		printf("%s\n", pem_path);
	rc = EXIT_ACCEPTED;
out:
	free(pem);
	free(pem_path);
	secmem_free(priv, priv_len);
	secmem_free_string(pub);
	free(key_path);
	free(jwks_path);
	free(abs_dir);
	json_decref(jwks);
	jwk_wipe_secrets(jwk);
	json_decref(jwk);
	jwk_wipe_secrets(priv_jwk);
	json_decref(priv_jwk);
	jwa_key_clear(&key);
	return rc;
}

/* A random jti: 128 bits, base64url. */
static char *random_jti(void)
{
	unsigned char raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return NULL;
	return b64url_encode_alloc(raw, sizeof(raw));
}

static int parse_epoch(const char *s, int64_t *out)
{
	char *end = NULL;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

/* NAME=VALUE: VALUE as JSON when it parses as JSON, else as a string. */
static int apply_claim(json_t *claims, const char *spec)
{
	const char *eq = strchr(spec, '=');
	char *name;
	json_t *value;
	int rc = -1;

	if (eq == NULL || eq == spec)
		return -1;
	name = strndup(spec, (size_t)(eq - spec));
	value = json_loads(eq + 1, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if (value == NULL)
		value = json_string(eq + 1);
	if (name != NULL && value != NULL && json_object_set_new(claims, name, value) == 0) {
		value = NULL;
		rc = 0;
	}
	json_decref(value);
	free(name);
	return rc;
}

#define ISSUE_MAX_EDITS 64

static int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "kid", required_argument, NULL, 'K' },
		{ "alg", required_argument, NULL, 'a' },
		{ "user", required_argument, NULL, 'u' },
		{ "aud", required_argument, NULL, 'A' },
		{ "iss", required_argument, NULL, 'I' },
		{ "ttl", required_argument, NULL, 't' },
		{ "now", required_argument, NULL, 'n' },
		{ "claim", required_argument, NULL, 'C' },
		{ "drop-claim", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_path = NULL, *kid = NULL, *user = NULL, *aud = NULL, *iss = NULL;
	const char *edits[ISSUE_MAX_EDITS];
	char edit_kind[ISSUE_MAX_EDITS];
	size_t n_edits = 0, i;
	enum jwa_alg alg = JWA_INVALID;
	int64_t ttl = 15 * 60, now = clock_now(), exp;
	struct jwa_key key;
	struct verdict v;
	json_t *claims = NULL;
	char *key_kid = NULL, *jti = NULL, *token = NULL, *abs_key = NULL;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&key, 0, sizeof(key));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 'K': kid = optarg; break;
		case 'a':
			alg = jwa_alg_from_name(optarg);
			if (alg == JWA_INVALID) {
				fprintf(stderr, "pam-jwtctl: unsupported --alg\n");
				goto out;
			}
			break;
		case 'u': user = optarg; break;
		case 'A': aud = optarg; break;
		case 'I': iss = optarg; break;
		case 't':
			if (config_parse_duration(optarg, &ttl) != 0) {
				fprintf(stderr, "pam-jwtctl: bad --ttl (e.g. 30s, 15m, 1h)\n");
				goto out;
			}
			break;
		case 'n':
			if (parse_epoch(optarg, &now) != 0) {
				fprintf(stderr, "pam-jwtctl: bad --now (seconds since the epoch)\n");
				goto out;
			}
			break;
		case 'C':
		case 'D':
			if (n_edits == ISSUE_MAX_EDITS) {
				fprintf(stderr, "pam-jwtctl: too many --claim/--drop-claim\n");
				goto out;
			}
			edit_kind[n_edits] = (char)c;
			edits[n_edits++] = optarg;
			break;
		default: usage(stderr); goto out;
		}
	}
	if (key_path == NULL || user == NULL || optind != argc) {
		usage(stderr);
		goto out;
	}
	abs_key = absolute_path(key_path);
	if (abs_key == NULL || key_load_private(abs_key, alg, kid, &key, &key_kid, &v) != 0) {
		fprintf(stderr, "pam-jwtctl: %s: %s\n", key_path,
			abs_key == NULL ? strerror(errno) : v.reason);
		goto out;
	}
	if (__builtin_add_overflow(now, ttl, &exp)) {
		fprintf(stderr, "pam-jwtctl: --now plus --ttl is out of range\n");
		goto out;
	}
	jti = random_jti();
	claims = json_pack("{s:s, s:I, s:I, s:s?}", "sub", user, "iat", (json_int_t)now,
			   "exp", (json_int_t)exp, "jti", jti);
	if (claims == NULL || jti == NULL ||
	    (aud != NULL && json_object_set_new(claims, "aud", json_string(aud)) != 0) ||
	    (iss != NULL && json_object_set_new(claims, "iss", json_string(iss)) != 0))
		goto out;
	for (i = 0; i < n_edits; i++) {
		if (edit_kind[i] == 'D') {
			json_object_del(claims, edits[i]);
		} else if (apply_claim(claims, edits[i]) != 0) {
			fprintf(stderr, "pam-jwtctl: --claim needs NAME=VALUE\n");
			goto out;
		}
	}
	token = jwt_mint(&key, kid != NULL ? kid : key_kid, claims);
	if (token == NULL) {
		fprintf(stderr, "pam-jwtctl: signing failed\n");
		goto out;
	}
	printf("%s\n", token);
	rc = EXIT_ACCEPTED;
out:
	secmem_free_string(token);
	free(abs_key);
	free(jti);
	free(key_kid);
	json_decref(claims);
	jwa_key_clear(&key);
	return rc;
}

/* ---- the session store ----------------------------------------------------------------- */

/* The config (an explicit -c must exist; the default path is read when it exists) and the
 * store it names, opened and checked. Prints why not; returns an exit code. */
/* A root-only command run by another user: its name (see command_run). It still runs, for
 * a store its caller owns (the tests' private stores), but root's configuration or store
 * out of reach is "must be root", not a store error. */
static const char *g_root_only;

static int must_be_root(void)
{
	fprintf(stderr, "pam-jwtctl: %s: must be root\n", g_root_only);
	return EXIT_UNAVAILABLE;
}

static int store_from_config(const char *config_path, struct config *cfg, struct store **st)
{
	const char *readable = config_path != NULL ? config_path : CONFIG_DEFAULT_PATH;
	struct verdict v;
	int rc;

	*st = NULL;
	verdict_init(&v);
	if (g_root_only != NULL && access(readable, R_OK) != 0 &&
	    (config_path != NULL || errno != ENOENT)) {
		rc = must_be_root();
		goto out;
	}
	rc = ctl_config_load(config_path, true, cfg);
	if (rc != EXIT_ACCEPTED)
		goto out;
	rc = EXIT_UNAVAILABLE;
	if (session_store_open(cfg, true, st, &v) != 0) {
		if (g_root_only != NULL)
			rc = must_be_root();
		else
			printf("unavailable: %s (%s)\n", v.reason, config_store_location(cfg));
		goto out;
	}
	rc = EXIT_ACCEPTED;
out:
	return rc;
}

/* TIME: seconds since the epoch, or a duration from now with a unit ("2h"). */
static int parse_time(const char *s, int64_t now, int64_t *out)
{
	size_t len = strlen(s);
	int64_t d;
	int rc = -1;

	if (len == 0)
		goto out;
	if (strchr("smhd", s[len - 1]) != NULL) {
		if (config_parse_duration(s, &d) != 0 || __builtin_add_overflow(now, d, out))
			goto out;
	} else if (parse_epoch(s, out) != 0 || *out < 0) {
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static int valid_user_arg(const char *user)
{
	size_t i, len = strlen(user);

	if (len == 0 || len >= STORE_FIELD_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return 0;
	return 1;
}

/* A user named on the command line, as the account name NSS gives for it: with an NSS
 * source that folds case, "Alice" is the account "alice", and locks, sessions and
 * revocations are keyed by that name. A name NSS does not know is kept as given. 0 with
 * out filled, or an exit code after a message. */
static int account_name_arg(const char *arg, char out[STORE_FIELD_MAX], bool *unknown)
{
	struct verdict v;
	int rc = EXIT_ACCEPTED, got;

	verdict_init(&v);
	got = user_canonical_name(arg, out, STORE_FIELD_MAX, &v);
	if (got < 0) {
		print_verdict(&v);
		rc = exit_for(v.code);
	}
	if (unknown != NULL)
		*unknown = got == 1;
	return rc;
}

/* "45s", "12m", "3h05m", "2d04h"; "-" for negative. */
static void format_span(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		snprintf(buf, size, "-");
	else if (secs < 60)
		snprintf(buf, size, "%llds", (long long)secs);
	else if (secs < 3600)
		snprintf(buf, size, "%lldm", (long long)(secs / 60));
	else if (secs < 86400)
		snprintf(buf, size, "%lldh%02lldm", (long long)(secs / 3600),
			 (long long)(secs % 3600 / 60));
	else
		snprintf(buf, size, "%lldd%02lldh", (long long)(secs / 86400),
			 (long long)(secs % 86400 / 3600));
}

struct list_ctx {
	int json;
	int64_t now;
	size_t count;
	size_t unlisted; /* sessions that could not be made JSON (each told on stderr) */
	int failed;      /* out of memory: the listing stopped */
	json_t *array;
};

static int list_one(const struct store_session *s, void *ctx_)
{
	struct list_ctx *ctx = ctx_;
	char created[ISO_TIME_LEN], expires[ISO_TIME_LEN], idle[32];
	json_error_t err;
	json_t *obj;
	int rc = 0;

	ctx->count++;
	if (ctx->json) {
		/* The store only holds UTF-8 without control characters, so this fails only
		 * out of memory; whatever the cause, one session never hides the others. */
		obj = json_pack_ex(&err, 0,
				   "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s}",
				   "digest", s->digest, "user", s->user, "uid", (json_int_t)s->uid,
				   "service", s->service, "tty", s->tty, "rhost", s->rhost,
				   "host", s->host,
				   "pid", (json_int_t)s->leader_pid,
				   "created", (json_int_t)s->created,
				   "expires", (json_int_t)s->expires,
				   "idle_timeout", (json_int_t)s->idle_timeout,
				   "last_seen", (json_int_t)s->last_seen, "parent", s->parent);
		if (obj == NULL) {
			fprintf(stderr, "pam-jwtctl: session %.12s cannot be listed as JSON: %s\n",
				s->digest, err.text);
			ctx->unlisted++;
		} else if (json_array_append_new(ctx->array, obj) != 0) {
			ctx->failed = 1;
			rc = -1;
		}
		goto out;
	}
	iso_time(s->created, created);
	iso_time(s->expires, expires);
	format_span(ctx->now - s->last_seen, idle, sizeof(idle));
	if (s->idle_timeout > 0) {
		size_t n = strlen(idle);
		snprintf(idle + n, sizeof(idle) - n, "/");
		format_span(s->idle_timeout, idle + n + 1, sizeof(idle) - n - 1);
	}
	printf("%-12.12s  %-16.16s  %-12.12s  %-8.8s  %-20.20s  %7lld  %-20s  %-20s%s  %s\n",
	       s->digest, s->user, s->service, s->tty[0] ? s->tty : "-",
	       s->rhost[0] ? s->rhost : "-", (long long)s->leader_pid, created, expires,
	       s->expires <= ctx->now ? " (expired)" : "", idle);
out:
	return rc;
}

static int cmd_sessions(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *user = NULL;
	char account[STORE_FIELD_MAX];
	struct list_ctx ctx;
	struct config cfg;
	struct store *st = NULL;
	struct verdict v;
	size_t unreadable = 0;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	memset(&ctx, 0, sizeof(ctx));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "c:u:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'u': user = optarg; break;
		case 'j': ctx.json = 1; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc || (user != NULL && !valid_user_arg(user))) {
		usage(stderr);
		goto out;
	}
	if (user != NULL) {
		rc = account_name_arg(user, account, NULL);
		if (rc != EXIT_ACCEPTED)
			goto out;
		user = account;
	}
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	rc = EXIT_UNAVAILABLE;
	ctx.now = clock_now();
	if (ctx.json && (ctx.array = json_array()) == NULL)
		goto out;
	if (!ctx.json)
		printf("%-12s  %-16s  %-12s  %-8s  %-20s  %7s  %-20s  %-20s  %s\n", "SESSION", "USER",
		       "SERVICE", "TTY", "RHOST", "PID", "CREATED", "EXPIRES", "IDLE");
	if (store_session_scan(st, user, list_one, &ctx, &unreadable, &v) != 0) {
		print_verdict(&v);
		goto out;
	}
	if (ctx.failed) {
		fprintf(stderr, "pam-jwtctl: out of memory while listing sessions\n");
		goto out;
	}
	if (ctx.json)
		ctl_print_json(ctx.array);
	if (unreadable > 0)
		fprintf(stderr, "pam-jwtctl: %zu unreadable session record(s) skipped\n",
			unreadable);
	if (ctx.unlisted > 0) {
		fprintf(stderr, "pam-jwtctl: %zu session(s) left out of the JSON list\n",
			ctx.unlisted);
		goto out;
	}
	rc = EXIT_ACCEPTED;
out:
	json_decref(ctx.array);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* Keep an admin's revocation or lock across reboots (persist_dir) too. The change already
 * stands in the store; a failure here is reported and turns the exit code to 2. */
/* Whether persist_dir kept a change made here (admin_run's report): a warning when
 * persist_dir is set but missing, a failure when writing it failed. An exit code. */
static int persist_report(const struct config *cfg, const struct admin_result *res)
{
	int rc = EXIT_ACCEPTED;

	if (res->persisted < 0) {
		printf("in force, but not kept across reboots: %s (%s)\n",
		       res->persist_v.reason != NULL ? res->persist_v.reason : "unknown error",
		       cfg->persist_dir);
		rc = EXIT_UNAVAILABLE;
	} else if (res->persist_missing) {
		fprintf(stderr, "pam-jwtctl: warning: %s does not exist: this change will not "
				"survive a reboot\n", cfg->persist_dir);
	}
	return rc;
}

/* The same report for a change pam-jwtd made: its answer says whether persist_dir kept it
 * ("persisted") and, if persist_dir failed, why ("persist_error"). */
static int ctl_daemon_persisted(const struct proto_answer *ans, const struct config *cfg)
{
	const char *error = json_string_value(json_object_get(ans->root, "persist_error"));
	int rc = EXIT_ACCEPTED;

	if (cfg->persist_dir == NULL || json_is_true(json_object_get(ans->root, "persisted")))
		goto out;
	if (error != NULL) {
		printf("in force, but not kept across reboots: %s (%s)\n", error, cfg->persist_dir);
		rc = EXIT_UNAVAILABLE;
	} else {
		fprintf(stderr, "pam-jwtctl: warning: %s does not exist: this change will not "
				"survive a reboot\n", cfg->persist_dir);
	}
out:
	return rc;
}

/* The sessions a revocation removed, so their logins can be ended afterwards. */
struct gone_list {
	struct store_session *list;
	size_t n;
};

static int gone_collect(const struct store_session *sess, void *ctx)
{
	struct gone_list *g = ctx;
	struct store_session *grown = realloc(g->list, (g->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return 1;
	g->list = grown;
	g->list[g->n++] = *sess;
	return 0;
}

/* An admin change made here, without the daemon (admin_run): the sessions it ended are
 * added to gone, whose logins the caller ends after printing its report. A refusal or
 * failure is printed. An exit code. */
static int admin_local(struct store *st, const struct config *cfg,
		       const struct admin_request *req, struct admin_result *res,
		       struct gone_list *gone)
{
	struct verdict v;
	int rc = EXIT_ACCEPTED;

	if (admin_run(st, cfg, req, clock_now(), gone_collect, gone, res, &v) != 0) {
		print_verdict(&v);
		rc = exit_for(v.code);
	}
	if (res->keyring_failures > 0)
		fprintf(stderr, "pam-jwtctl: warning: the keyring entries of %zu ended session(s) "
				"could not be removed\n", res->keyring_failures);
	return rc;
}

/* An admin request through pam-jwtd; a refusal or failure is printed. An exit code; on
 * success *ans holds the answer (clear it). */
static int admin_via_daemon(const struct config *cfg, const struct proto_request *req,
			    struct proto_answer *ans)
{
	const char *reason = NULL;
	int rc = EXIT_UNAVAILABLE;

	if (ctl_daemon_call(cfg->socket_path, req, ans, &reason) != 0) {
		printf("unavailable: %s\n", reason != NULL ? reason : "pam-jwtd is not running");
		goto out;
	}
	if (!ans->ok) {
		printf("refused: %s\n", ans->error);
		rc = EXIT_REFUSED;
		goto out;
	}
	rc = EXIT_ACCEPTED;
out:
	return rc;
}

/* Through pam-jwtd, which ends the logins itself. */
static int revoke_via_daemon(const struct config *cfg, char *session, const char *user,
			     const char *jti, int64_t exp)
{
	char digest[STORE_DIGEST_HEX_LEN + 1], label[VERDICT_LABEL_MAX + 1];
	char when[ISO_TIME_LEN];
	struct proto_request req;
	struct proto_answer ans;
	const char *got;
	long long count;
	int rc = EXIT_UNAVAILABLE;

	memset(&req, 0, sizeof(req));
	memset(&ans, 0, sizeof(ans));
	req.op = PROTO_OP_REVOKE;
	if (session != NULL && store_session_id_looks_like(session, strlen(session))) {
		store_digest_hex(session, strlen(session), digest);
		OPENSSL_cleanse(session, strlen(session));
		req.session = digest;
	} else {
		req.session = session;
	}
	req.user = (char *)(uintptr_t)user;
	req.jti = (char *)(uintptr_t)jti;
	req.exp = exp;
	req.has_exp = jti != NULL;
	rc = admin_via_daemon(cfg, &req, &ans);
	if (rc != EXIT_ACCEPTED)
		goto out;
	count = (long long)json_integer_value(json_object_get(ans.root, "revoked"));
	got = json_string_value(json_object_get(ans.root, "session"));
	if (session != NULL) {
		printf("revoked session %.*s\n", SESSION_DIGEST_SHOWN, got != NULL ? got : "?");
	} else if (user != NULL) {
		verdict_label_copy(label, sizeof(label), user);
		printf("revoked %lld session(s) of user %s\n", count, label);
	} else {
		verdict_label_copy(label, sizeof(label), jti);
		iso_time(exp, when);
		printf("revoked token id %s until %s, and %lld session(s) it opened\n", label,
		       when, count);
		/* only a revoked token id is kept in persist_dir (sessions end at a reboot) */
		rc = ctl_daemon_persisted(&ans, cfg);
	}
out:
	proto_answer_clear(&ans);
	return rc;
}

static int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "session", required_argument, NULL, 'S' },
		{ "user", required_argument, NULL, 'u' },
		{ "jti", required_argument, NULL, 'j' },
		{ "exp", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *user = NULL, *jti = NULL, *exp_arg = NULL;
	char *session = NULL, account[STORE_FIELD_MAX], digest[STORE_DIGEST_HEX_LEN + 1];
	/* without --exp the revocation outlives any sensibly short token */
	int64_t now = clock_now(), exp = now + ADMIN_JTI_DEFAULT_TTL;
	struct config cfg;
	struct store *st = NULL;
	struct admin_request req;
	struct admin_result res;
	struct gone_list gone = { NULL, 0 };
	char label[VERDICT_LABEL_MAX + 1], when[ISO_TIME_LEN];
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	while ((c = getopt_long(argc, argv, "c:u:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'S': session = optarg; break;
		case 'u': user = optarg; break;
		case 'j': jti = optarg; break;
		case 'e': exp_arg = optarg; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc || (session != NULL) + (user != NULL) + (jti != NULL) != 1 ||
	    (exp_arg != NULL && jti == NULL)) {
		fprintf(stderr, "pam-jwtctl: revoke needs exactly one of --session, --user, --jti\n");
		usage(stderr);
		goto out;
	}
	if ((user != NULL && !valid_user_arg(user)) || (jti != NULL && jti[0] == '\0')) {
		fprintf(stderr, "pam-jwtctl: bad user name or jti\n");
		goto out;
	}
	if (user != NULL) {
		rc = account_name_arg(user, account, NULL);
		if (rc != EXIT_ACCEPTED)
			goto out;
		user = account;
		rc = EXIT_UNAVAILABLE;
	}
	if (exp_arg != NULL && (parse_time(exp_arg, now, &exp) != 0 || exp <= now)) {
		fprintf(stderr, "pam-jwtctl: bad --exp (a future epoch time or a duration like 2h)\n");
		goto out;
	}
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	if (ctl_daemon_serves(&cfg)) {
		rc = revoke_via_daemon(&cfg, session, user, jti, exp);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	if (session != NULL) {
		req.op = ADMIN_REVOKE_SESSION;
		req.session = session;
		if (store_session_id_looks_like(session, strlen(session))) {
			store_digest_hex(session, strlen(session), digest);
			OPENSSL_cleanse(session, strlen(session));
			req.session = digest;
		}
	} else {
		req.op = user != NULL ? ADMIN_REVOKE_USER : ADMIN_REVOKE_JTI;
		req.user = user;
		req.jti = jti;
		req.exp = exp;
	}
	rc = admin_local(st, &cfg, &req, &res, &gone);
	if (rc != EXIT_ACCEPTED)
		goto out;
	if (session != NULL) {
		printf("revoked session %.*s\n", SESSION_DIGEST_SHOWN, res.session);
	} else if (user != NULL) {
		verdict_label_copy(label, sizeof(label), res.account);
		printf("revoked %zu session(s) of user %s\n", res.count, label);
	} else {
		verdict_label_copy(label, sizeof(label), jti);
		iso_time(res.exp, when);
		printf("revoked token id %s until %s, and %zu session(s) it opened\n", label,
		       when, res.count);
		rc = persist_report(&cfg, &res);
	}
out:
	/* without the daemon, pam-jwtctl ends the revoked logins itself */
	if (gone.n > 0)
		ctl_end_logins(gone.list, gone.n, cfg.revoke_kill_after);
	free(gone.list);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* lock USER [--until TIME] / unlock USER */
static int cmd_lock(int argc, char **argv, int lock)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "until", required_argument, NULL, 't' },
		{ "end-logins", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *until_arg = NULL, *user;
	struct gone_list gone = { NULL, 0 };
	size_t ended = 0;
	bool end_logins = false, unknown = false;
	char account[STORE_FIELD_MAX];
	int64_t now = clock_now(), until = 0;
	struct config cfg;
	struct store *st = NULL;
	struct proto_request req;
	struct proto_answer ans;
	struct admin_request areq;
	struct admin_result res;
	char label[VERDICT_LABEL_MAX + 1], when[ISO_TIME_LEN];
	bool via_daemon;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	memset(&ans, 0, sizeof(ans));
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 't':
			if (!lock) {
				usage(stderr);
				goto out;
			}
			until_arg = optarg;
			break;
		case 'E':
			if (!lock) {
				usage(stderr);
				goto out;
			}
			end_logins = true;
			break;
		default: usage(stderr); goto out;
		}
	}
	if (optind + 1 != argc || !valid_user_arg(argv[optind])) {
		usage(stderr);
		goto out;
	}
	if (until_arg != NULL && (parse_time(until_arg, now, &until) != 0 || until <= now)) {
		fprintf(stderr, "pam-jwtctl: bad --until (a future epoch time or a duration like 2h)\n");
		goto out;
	}
	rc = account_name_arg(argv[optind], account, &unknown);
	if (rc != EXIT_ACCEPTED)
		goto out;
	/* a lock for a name that may only later become a user is allowed, but likely a typo */
	if (unknown && lock) {
		verdict_label_copy(label, sizeof(label), account);
		fprintf(stderr, "pam-jwtctl: warning: %s is not a user on this host (locked "
				"anyway)\n", label);
	}
	user = account;
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	via_daemon = ctl_daemon_serves(&cfg);
	if (via_daemon) {
		memset(&req, 0, sizeof(req));
		req.op = lock ? PROTO_OP_LOCK : PROTO_OP_UNLOCK;
		req.user = (char *)(uintptr_t)user;
		req.until = until;
		req.has_until = lock;
		req.end_logins = end_logins;
		req.has_end_logins = end_logins;
		rc = admin_via_daemon(&cfg, &req, &ans);
		if (rc != EXIT_ACCEPTED)
			goto out;
		ended = (size_t)json_integer_value(json_object_get(ans.root, "revoked"));
	} else {
		memset(&areq, 0, sizeof(areq));
		areq.op = lock ? ADMIN_LOCK : ADMIN_UNLOCK;
		areq.user = user;
		areq.until = until;
		areq.end_logins = end_logins;
		rc = admin_local(st, &cfg, &areq, &res, &gone);
		if (rc != EXIT_ACCEPTED)
			goto out;
		ended = res.count;
	}
	verdict_label_copy(label, sizeof(label), user);
	iso_time(until, when);
	if (!lock)
		printf("unlocked user %s\n", label);
	else if (until == 0)
		printf("locked user %s until unlocked\n", label);
	else
		printf("locked user %s until %s\n", label, when);
	if (end_logins)
		printf("revoked %zu session(s) of user %s\n", ended, label);
	/* pam-jwtd reports whether persist_dir kept the change; without it, we keep it */
	rc = via_daemon ? ctl_daemon_persisted(&ans, &cfg) : persist_report(&cfg, &res);
out:
	/* without the daemon, pam-jwtctl ends the revoked logins itself */
	if (gone.n > 0)
		ctl_end_logins(gone.list, gone.n, cfg.revoke_kill_after);
	free(gone.list);
	proto_answer_clear(&ans);
	store_close(st);
	config_free(&cfg);
	return rc;
}

static int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct config cfg;
	struct store *st = NULL;
	struct proto_request req;
	struct proto_answer ans;
	struct gone_list gone = { NULL, 0 };
	struct admin_request areq;
	struct admin_result res;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	if (ctl_daemon_serves(&cfg)) {
		memset(&req, 0, sizeof(req));
		req.op = PROTO_OP_GC;
		rc = admin_via_daemon(&cfg, &req, &ans);
		if (rc == EXIT_ACCEPTED)
			printf("removed %lld record(s)\n",
			       (long long)json_integer_value(json_object_get(ans.root, "removed")));
		proto_answer_clear(&ans);
		goto out;
	}
	memset(&areq, 0, sizeof(areq));
	areq.op = ADMIN_GC;
	rc = admin_local(st, &cfg, &areq, &res, &gone);
	if (rc != EXIT_ACCEPTED)
		goto out;
	printf("removed %zu record(s)\n", res.count);
	rc = EXIT_ACCEPTED;
out:
	/* without the daemon, the logins of sessions whose lineage broke end here */
	if (gone.n > 0)
		ctl_end_logins(gone.list, gone.n, cfg.revoke_kill_after);
	free(gone.list);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* After a reboot: bring the revocations and locks kept in persist_dir back into the store. */
static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct config cfg;
	struct store *st = NULL, *pst = NULL;
	struct verdict v;
	size_t copied = 0, unreadable = 0;
	int c, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	verdict_init(&v);
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	rc = EXIT_UNAVAILABLE;
	if (session_persist_open(&cfg, &pst, &v) != 0) {
		printf("unavailable: %s (%s)\n", v.reason, cfg.persist_dir);
		goto out;
	}
	if (pst == NULL) {
		printf("nothing to restore (%s)\n",
		       cfg.persist_dir != NULL ? "persist_dir does not exist" : "persist_dir is none");
		rc = EXIT_ACCEPTED;
		goto out;
	}
	if (store_import_revocations(st, pst, clock_now(), &copied, &unreadable, &v) != 0) {
		print_verdict(&v);
		goto out;
	}
	printf("restored %zu revocation(s) and lock(s)\n", copied);
	if (unreadable > 0)
		printf("skipped %zu unreadable record(s) in %s\n", unreadable, cfg.persist_dir);
	rc = unreadable > 0 ? EXIT_UNAVAILABLE : EXIT_ACCEPTED;
out:
	store_close(pst);
	store_close(st);
	config_free(&cfg);
	return rc;
}

/* jwks fetch: the daemon's fetch, once. jwks show: the keys verification uses now. */
static int jwks_show(const struct config *cfg, struct verdict *v)
{
	struct keyset *ks = NULL;
	struct keyset_notes notes;
	struct stat sb;
	size_t i;
	int rc = -1, keys_rc;

	keys_rc = jwt_keyset_load(cfg, &ks, &notes, v);
	print_key_notes(&notes);
	if (keys_rc != 0)
		goto out;
	for (i = 0; i < ks->count; i++) {
		const struct key_entry *e = &ks->entries[i];
		const char *alg = jwa_alg_name(e->alg);

		printf("kid=%s alg=%s source=%s\n", e->kid != NULL ? e->kid : "-",
		       alg != NULL ? alg : "?",
		       e->path != NULL ? e->path : e->source != NULL ? e->source : "-");
	}
	if (cfg->jwks_cache != NULL) {
		if (stat(cfg->jwks_cache, &sb) == 0)
			printf("cache %s: %lld s old\n", cfg->jwks_cache,
			       (long long)(clock_now() - (int64_t)sb.st_mtime));
		else
			printf("cache %s: missing\n", cfg->jwks_cache);
	}
	rc = 0;
out:
	keyset_free(ks);
	return rc;
}

static int cmd_jwks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONFIG_DEFAULT_PATH, *what;
	struct config cfg;
	struct verdict v;
	int64_t next = 0;
	int c, fetch, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	verdict_init(&v);
	if (argc < 2 || (strcmp(argv[1], "fetch") != 0 && strcmp(argv[1], "show") != 0)) {
		usage(stderr);
		goto out;
	}
	what = argv[1];
	fetch = strcmp(what, "fetch") == 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	if (config_init(&cfg) != 0) {
		fprintf(stderr, "pam-jwtctl: out of memory\n");
		goto out;
	}
	if (config_load_file(&cfg, config_path, &v) != 0 || config_validate(&cfg, &v) != 0)
		goto report;
	if (fetch) {
		if (jwksfetch_global_init() != 0) {
			verdict_set(&v, VERDICT_UNAVAILABLE, "cannot start libcurl");
			goto report;
		}
		rc = jwksfetch_run(&cfg, &next, &v);
		jwksfetch_global_cleanup();
		if (rc != 0)
			goto report;
		printf("fetched %s (next refresh in %lld s)\n", cfg.jwks_cache, (long long)next);
	} else if (jwks_show(&cfg, &v) != 0) {
		goto report;
	}
	verdict_ok(&v);
report:
	if (v.code != VERDICT_OK)
		print_verdict(&v);
	rc = exit_for(v.code);
out:
	config_free(&cfg);
	return rc;
}

/* ---- listing locks and revocations --------------------------------------------------- */

struct listed_ctx {
	bool json;
	bool locks;
	size_t count;
	bool failed; /* out of memory: the listing stopped */
	json_t *array;
};

static int listed_one(const struct store_listed *rec, void *arg)
{
	struct listed_ctx *ctx = arg;
	char label[VERDICT_LABEL_MAX + 1], until[ISO_TIME_LEN];
	json_t *obj;

	ctx->count++;
	if (ctx->json) {
		obj = ctx->locks ? json_pack("{s:s, s:I}", "user", rec->user, "until",
					     (json_int_t)rec->until) :
				   json_pack("{s:s, s:I}", "jti_sha256", rec->digest, "exp",
					     (json_int_t)rec->until);
		ctx->failed = obj == NULL || json_array_append_new(ctx->array, obj) != 0;
		return ctx->failed;
	}
	if (rec->until == 0)
		snprintf(until, sizeof(until), "until unlocked");
	else
		iso_time(rec->until, until);
	if (ctx->locks) {
		verdict_label_copy(label, sizeof(label), rec->user);
		printf("%-32s  %s\n", label, until);
	} else {
		printf("%s  %s\n", rec->digest, until);
	}
	return 0;
}

static int cmd_listed(int argc, char **argv, bool locks)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	struct listed_ctx ctx;
	struct config cfg;
	struct store *st = NULL;
	struct verdict v;
	size_t unreadable = 0;
	int c, scanned, rc = EXIT_UNAVAILABLE;

	memset(&cfg, 0, sizeof(cfg));
	memset(&ctx, 0, sizeof(ctx));
	verdict_init(&v);
	ctx.locks = locks;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'j': ctx.json = true; break;
		default: usage(stderr); goto out;
		}
	}
	if (optind != argc) {
		usage(stderr);
		goto out;
	}
	rc = store_from_config(config_path, &cfg, &st);
	if (rc != EXIT_ACCEPTED)
		goto out;
	rc = EXIT_UNAVAILABLE;
	if (ctx.json && (ctx.array = json_array()) == NULL)
		goto out;
	if (!ctx.json && locks)
		printf("%-32s  %s\n", "USER", "UNTIL");
	else if (!ctx.json)
		printf("%-64s  %s\n", "JTI_SHA256", "UNTIL");
	scanned = locks ? store_lock_scan(st, clock_now(), listed_one, &ctx, &unreadable, &v) :
			  store_jti_scan(st, clock_now(), listed_one, &ctx, &unreadable, &v);
	if (scanned != 0) {
		print_verdict(&v);
		goto out;
	}
	if (ctx.failed) {
		fprintf(stderr, "pam-jwtctl: out of memory while listing\n");
		goto out;
	}
	if (ctx.json)
		ctl_print_json(ctx.array);
	if (unreadable > 0) {
		fprintf(stderr, "pam-jwtctl: %zu unreadable record(s) skipped\n", unreadable);
		goto out;
	}
	rc = EXIT_ACCEPTED;
out:
	json_decref(ctx.array);
	store_close(st);
	config_free(&cfg);
	return rc;
}

static int cmd_locks(int argc, char **argv)
{
	return cmd_listed(argc, argv, true);
}

/* A revoked token ID is kept only as its SHA-256: that is what is listed. */
static int cmd_revocations(int argc, char **argv)
{
	return cmd_listed(argc, argv, false);
}

/* ---- the commands: one row each, which drives usage, --help and completion ------------ */

enum ctl_who {
	CTL_ANYONE, /* users run it from their PATH */
	CTL_ROOT,   /* reads root's store or keys: "must be root" for anyone else */
};

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv);
	enum ctl_who who;
	bool takes_config; /* a global -c FILE is handed to it */
	const char *usage; /* the lines after "pam-jwtctl NAME", "\n" between forms */
	const char *help;  /* what it does, one line */
	const char *options; /* its options, for completion */
};

static int cmd_lock_on(int argc, char **argv)
{
	return cmd_lock(argc, argv, 1);
}

static int cmd_unlock(int argc, char **argv)
{
	return cmd_lock(argc, argv, 0);
}

static const struct ctl_command commands[] = {
	{ "verify", cmd_verify, CTL_ANYONE, true,
	  "[-c CONFIG] [-u USER] [-s SERVICE] [-v|--json] [TOKEN|-]\n"
	  "--jws-only --key FILE [-v|--json] [TOKEN|-]",
	  "check a token exactly as pam_jwt.so does (read-only)",
	  "--config --user --service --verbose --json --jws-only --key" },
	{ "keygen", cmd_keygen, CTL_ANYONE, false,
	  "--alg ALG --kid KID --out DIR [--bits N] [--pem]",
	  "make a signing key (KID.key) and its public key set (KID.jwks, KID.pem)",
	  "--alg --kid --out --bits --pem" },
	{ "issue", cmd_issue, CTL_ANYONE, false,
	  "--key PRIVATE [--kid KID] [--alg ALG] -u USER [--aud AUD] [--iss ISS]\n"
	  " [--ttl DURATION] [--now EPOCH] [--claim NAME=VALUE]... [--drop-claim NAME]...",
	  "mint a signed token",
	  "--key --kid --alg --user --aud --iss --ttl --now --claim --drop-claim" },
	{ "sessions", cmd_sessions, CTL_ROOT, true, "[-c CONFIG] [-u USER] [--json]",
	  "list the sessions in the store", "--config --user --json" },
	{ "revoke", cmd_revoke, CTL_ROOT, true,
	  "[-c CONFIG] --session ID|DIGEST_PREFIX\n"
	  "[-c CONFIG] --user USER\n"
	  "[-c CONFIG] --jti JTI [--exp TIME]",
	  "revoke a session (and those opened with it), a user's sessions or a token ID",
	  "--config --session --user --jti --exp" },
	{ "lock", cmd_lock_on, CTL_ROOT, true, "[-c CONFIG] USER [--until TIME] [--end-logins]",
	  "refuse every login of a user", "--config --until --end-logins" },
	{ "unlock", cmd_unlock, CTL_ROOT, true, "[-c CONFIG] USER", "lift a user's lock",
	  "--config" },
	{ "locks", cmd_locks, CTL_ROOT, true, "[-c CONFIG] [--json]",
	  "list the locked users and when each lock ends", "--config --json" },
	{ "revocations", cmd_revocations, CTL_ROOT, true, "[-c CONFIG] [--json]",
	  "list the revoked token IDs (as SHA-256 digests) and until when",
	  "--config --json" },
	{ "gc", cmd_gc, CTL_ROOT, true, "[-c CONFIG]", "remove expired records from the store",
	  "--config" },
	{ "restore", cmd_restore, CTL_ROOT, true, "[-c CONFIG]",
	  "bring the revocations and locks kept in persist_dir back (at boot)", "--config" },
	{ "token", cmd_token, CTL_ANYONE, true, "[-c CONFIG] [--socket PATH] [--aud AUD]",
	  "a fresh access token for your login, from pam-jwtd", "--config --socket --aud" },
	{ "refresh", cmd_refresh, CTL_ANYONE, true, "[-c CONFIG] [--socket PATH]",
	  "rotate your refresh token and get a fresh access token", "--config --socket" },
	{ "logout", cmd_logout, CTL_ANYONE, true, "[-c CONFIG] [--socket PATH]",
	  "end your login's session", "--config --socket" },
	{ "status", cmd_status, CTL_ANYONE, true, "[-c CONFIG] [--socket PATH] [--json]",
	  "pam-jwtd's state (more of it for root)", "--config --socket --json" },
	{ "jwks", cmd_jwks, CTL_ANYONE, true, "fetch|show [-c CONFIG]",
	  "fetch the issuer's keys now (root), or show the keys verification uses",
	  "fetch show --config" },
	{ "check-config", cmd_check_config, CTL_ROOT, true, "[-c CONFIG] [-T] [--json]",
	  "check the configuration before it goes live, as sshd -t",
	  "--config --settings --json" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct ctl_command *g_command; /* the command being run */

static const struct ctl_command *command_find(const char *name)
{
	const struct ctl_command *found = NULL;
	size_t i;

	for (i = 0; i < N_COMMANDS && found == NULL; i++)
		if (strcmp(commands[i].name, name) == 0)
			found = &commands[i];
	return found;
}

/* "usage: pam-jwtctl NAME FORM", one line per form, the later ones indented. */
static void command_usage(FILE *out, const struct ctl_command *cmd, bool first)
{
	const char *form = cmd->usage, *nl;

	do {
		nl = strchr(form, '\n');
		if (form[0] == ' ') /* a form's second line */
			fprintf(out, "       %*s%.*s\n", (int)(strlen(cmd->name) + 11), "",
				nl != NULL ? (int)(nl - form) : (int)strlen(form), form);
		else
			fprintf(out, "%s pam-jwtctl %s %.*s\n", first ? "usage:" : "      ",
				cmd->name, nl != NULL ? (int)(nl - form) : (int)strlen(form), form);
		first = false;
		form = nl != NULL ? nl + 1 : NULL;
	} while (form != NULL);
}

static const char time_help[] =
	"  TIME: seconds since the epoch (e.g. 1767225600) or a duration from now\n"
	"        with a unit (30s, 15m, 2h, 1d)\n";

static void usage(FILE *out)
{
	size_t i;

	if (g_command != NULL) {
		command_usage(out, g_command, true);
		return;
	}
	for (i = 0; i < N_COMMANDS; i++)
		command_usage(out, &commands[i], i == 0);
	fputs("       pam-jwtctl [-c CONFIG] COMMAND ...\n"
	      "       pam-jwtctl COMMAND --help\n"
	      "       pam-jwtctl --version\n", out);
	fputs(time_help, out);
}

static void command_help(const struct ctl_command *cmd)
{
	command_usage(stdout, cmd, true);
	printf("\n%s%s.\n", cmd->help, cmd->who == CTL_ROOT ? "; root only" : "");
	if (strstr(cmd->usage, "TIME") != NULL)
		fputs(time_help, stdout);
	printf("See pam-jwtctl(1).\n");
}

/* For the bash completion: the commands, or one command's options. */
static int complete(int argc, char **argv)
{
	const struct ctl_command *cmd;
	size_t i;
	int rc = EXIT_ACCEPTED;

	if (argc == 0) {
		for (i = 0; i < N_COMMANDS; i++)
			printf("%s\n", commands[i].name);
	} else if (argc == 1 && (cmd = command_find(argv[0])) != NULL) {
		printf("%s --help\n", cmd->options);
	} else {
		rc = EXIT_UNAVAILABLE;
	}
	return rc;
}

static bool wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* Run a command; a global -c FILE (before it) is passed on as its own -c FILE. */
static int command_run(const struct ctl_command *cmd, const char *config, int argc, char **argv)
{
	char **args = NULL;
	int n = 0, i, rc = EXIT_UNAVAILABLE;

	g_command = cmd;
	if (wants_help(argc, argv)) {
		command_help(cmd);
		rc = EXIT_ACCEPTED;
		goto out;
	}
	if (config != NULL && !cmd->takes_config) {
		fprintf(stderr, "pam-jwtctl: %s takes no configuration (-c)\n", cmd->name);
		usage(stderr);
		goto out;
	}
	if (cmd->who == CTL_ROOT && geteuid() != 0)
		g_root_only = cmd->name;
	args = calloc((size_t)argc + 3, sizeof(*args));
	if (args == NULL) {
		fprintf(stderr, "pam-jwtctl: out of memory\n");
		goto out;
	}
	args[n++] = argv[0];
	/* jwks takes its verb first */
	if (strcmp(cmd->name, "jwks") == 0 && argc > 1)
		args[n++] = argv[1];
	if (config != NULL) {
		args[n++] = (char *)(uintptr_t)"-c";
		args[n++] = (char *)(uintptr_t)config;
	}
	for (i = strcmp(cmd->name, "jwks") == 0 && argc > 1 ? 2 : 1; i < argc; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	rc = cmd->run(n, args);
out:
	free(args);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "complete", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_command *cmd;
	const char *config = NULL;
	int c, at, rc = EXIT_UNAVAILABLE;

	/* global options end at the command ("+": no permuting) */
	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'h':
			usage(stdout);
			rc = EXIT_ACCEPTED;
			goto out;
		case 'V':
			printf("pam-jwtctl %s\n", PAM_JWT_VERSION);
			rc = EXIT_ACCEPTED;
			goto out;
		case 'C':
			rc = complete(argc - optind, argv + optind);
			goto out;
		default: usage(stderr); goto out;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		goto out;
	}
	cmd = command_find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "pam-jwtctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		goto out;
	}
	at = optind;
	/* each command parses its own options from a fresh start */
	optind = 0;
	rc = command_run(cmd, config, argc - at, argv + at);
out:
	return rc;
}
