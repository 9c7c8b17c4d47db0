/*
 * bench_verify — full JWT verification through jwt_verify() against raw OpenSSL EVP
 * verification of the same signing input and signature bytes.
 *
 * For each algorithm: a key is generated in-process, one realistic token is minted, the
 * config and key set are built once and the first verification (which loads the key) is
 * left out of the timing. Then runs of N operations alternate raw, full, raw, full... for
 * several rounds and the median rate of each side is reported. Single-threaded, pinned
 * to one CPU.
 *
 * Environment: BENCH_ROUNDS (default 15), BENCH_RUN_MS (target length of one run,
 * default 60), BENCH_CPU (CPU to pin to; default the highest allowed one), BENCH_ONLY
 * (comma-separated algorithms, e.g. "HS256,RS256", for profiling one path).
 *
 * `bench_verify --emit-es256 JWKS_OUT TOKEN_OUT USER ISSUER AUDIENCE` writes an ES256
 * verification JWKS and a token for USER (used by bench_pam.sh), then exits.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "config.h"
#include "jwa.h"
#include "jwt.h"
#include "keys.h"
#include "verdict.h"
#include "benchutil.h"

#define BENCH_USER "alice"
#define BENCH_ISSUER "https://idp.example.org"
#define BENCH_AUDIENCE "ssh.example.org"

struct bench_case {
	const char *name;
	enum jwa_alg alg;
	const char *target_text;  /* as printed */
	double min_ratio;         /* full/raw; 0 when the target is a rate */
	double min_full_rate;     /* full verifications per second; 0 when a ratio */

	/* Filled by case_setup. */
	struct jwa_key sign_key;  /* private key (or HMAC secret) */
	EVP_PKEY *pub;            /* public-only key for the raw side (NULL for HMAC) */
	char kid[32];
	char *token;
	size_t input_len;         /* signing input: token[0 .. input_len) */
	unsigned char *sig;       /* raw JWS signature */
	size_t sig_len;
	unsigned char *der;       /* ECDSA: the DER form of sig, made once */
	size_t der_len;
	struct config cfg;
	struct keyset *ks;
	int64_t now;

	/* Results. */
	int selected;
	double raw_rate, full_rate, raw_spread, full_spread;
	double paired_ratio;      /* median over rounds of full/raw of adjacent runs */
	double cpu_ratio;         /* the same with thread CPU time instead of wall time */
};

#define CASE(n, a, t, r, f) \
	{ .name = n, .alg = a, .target_text = t, .min_ratio = r, .min_full_rate = f }
static struct bench_case cases[] = {
	CASE("HS256", JWA_HS256, ">= 200,000 full/s", 0.0, 200000.0),
	CASE("RS256", JWA_RS256, ">= 0.8x", 0.8, 0.0),
	CASE("PS256", JWA_PS256, ">= 0.8x", 0.8, 0.0),
	CASE("ES256", JWA_ES256, ">= 0.9x", 0.9, 0.0),
	CASE("ES384", JWA_ES384, "none given (context)", 0.0, 0.0),
	CASE("EdDSA", JWA_EDDSA, ">= 0.9x", 0.9, 0.0),
};
#undef CASE
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void die(const char *what)
{
	fprintf(stderr, "bench_verify: %s\n", what);
	exit(2);
}

static double clock_sec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_sec(void)
{
	return clock_sec(CLOCK_MONOTONIC);
}

/* ---- keys and tokens ------------------------------------------------------------- */

/* A public-only copy of a key (SubjectPublicKeyInfo round trip). */
static EVP_PKEY *public_copy(EVP_PKEY *pkey)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len = i2d_PUBKEY(pkey, &der);

	if (len > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, len);
	}
	OPENSSL_free(der);
	return pub;
}

/* The claims an identity provider would typically put in an SSH/sudo login token. */
static json_t *realistic_claims(const char *user, const char *iss, const char *aud,
				int64_t now)
{
	unsigned char rnd[16];
	char jti[32];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	b64url_encode(rnd, sizeof(rnd), jti);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:[s,s,s,s]}",
			 "iss", iss, "sub", user, "aud", aud,
			 "iat", (json_int_t)now, "nbf", (json_int_t)now,
			 "exp", (json_int_t)(now + 3600), "jti", jti,
			 "groups", "wheel", "developers", "ssh-users", "oncall");
}

/* Raw r||s to DER, done once for the raw side. */
static int ec_raw_to_der(const unsigned char *sig, size_t len, unsigned char **der,
			 size_t *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	int n;

	*der = NULL;
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*der_len = (size_t)n;
	return 0;
}

/* Make the signing key (c->sign_key, c->pub) and the JWKS text with its public part. */
static char *make_key(struct bench_case *c, EVP_PKEY *shared_rsa)
{
	json_t *jwk, *doc;
	char *text = NULL;

	memset(&c->sign_key, 0, sizeof(c->sign_key));
	c->sign_key.alg = c->alg;
	snprintf(c->kid, sizeof(c->kid), "bench-%s-2026", c->name);
	if (jwa_alg_family(c->alg) == JWA_FAMILY_HMAC) {
		c->sign_key.secret_len = jwa_hash_size(c->alg);
		c->sign_key.secret = malloc(c->sign_key.secret_len);
		if (c->sign_key.secret == NULL ||
		    RAND_bytes(c->sign_key.secret, (int)c->sign_key.secret_len) != 1)
			die("cannot make an HMAC secret");
	} else {
		if (shared_rsa != NULL && EVP_PKEY_up_ref(shared_rsa) == 1)
			c->sign_key.pkey = shared_rsa;
		else
			c->sign_key.pkey = jwa_pkey_generate(c->alg, 2048);
		if (c->sign_key.pkey == NULL)
			die("key generation failed");
		c->pub = public_copy(c->sign_key.pkey);
		if (c->pub == NULL)
			die("cannot copy the public key");
	}
	if (jwa_key_check(&c->sign_key) != NULL)
		die(jwa_key_check(&c->sign_key));
	jwk = jwk_from_key(&c->sign_key, c->kid);
	doc = jwk != NULL ? json_pack("{s:[o]}", "keys", jwk) : NULL;
	if (doc == NULL)
		die("cannot build the JWKS");
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		die("cannot serialise the JWKS");
	return text;
}

static void mint(struct bench_case *c, const char *user, const char *iss, const char *aud)
{
	json_t *claims = realistic_claims(user, iss, aud, c->now);
	const char *dot;

	if (claims == NULL)
		die("cannot build claims");
	c->token = jwt_mint(&c->sign_key, c->kid, claims);
	json_decref(claims);
	if (c->token == NULL)
		die("jwt_mint failed");
	dot = strrchr(c->token, '.');
	c->input_len = (size_t)(dot - c->token);
	if (b64url_decode_alloc(dot + 1, strlen(dot + 1), &c->sig, &c->sig_len) != 0)
		die("cannot decode our own signature");
	if (jwa_alg_family(c->alg) == JWA_FAMILY_EC &&
	    ec_raw_to_der(c->sig, c->sig_len, &c->der, &c->der_len) != 0)
		die("cannot make the DER signature");
}

static void case_setup(struct bench_case *c, EVP_PKEY *shared_rsa)
{
	struct verdict v;
	char *jwks;

	verdict_init(&v);
	c->now = (int64_t)time(NULL);
	jwks = make_key(c, shared_rsa);
	mint(c, BENCH_USER, BENCH_ISSUER, BENCH_AUDIENCE);
	if (config_init(&c->cfg) != 0 ||
	    config_set(&c->cfg, "issuer", BENCH_ISSUER, &v) != 0 ||
	    config_set(&c->cfg, "audience", BENCH_AUDIENCE, &v) != 0 ||
	    config_set(&c->cfg, "leeway", "60", &v) != 0)
		die("config_set failed");
	c->ks = keyset_new();
	if (c->ks == NULL ||
	    keyset_add_jwks_json(c->ks, jwks, strlen(jwks), true, &v) != 0)
		die("keyset_add_jwks_json failed");
	free(jwks);
}

static void case_free(struct bench_case *c)
{
	keyset_free(c->ks);
	config_free(&c->cfg);
	jwa_key_clear(&c->sign_key);
	EVP_PKEY_free(c->pub);
	free(c->token);
	free(c->sig);
	OPENSSL_free(c->der);
}

/* ---- the two sides ----------------------------------------------------------------- */

static int raw_verify(const struct bench_case *c)
{
	const unsigned char *input = (const unsigned char *)c->token;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	int ok = 0;

	switch (jwa_alg_family(c->alg)) {
	case JWA_FAMILY_HMAC:
		if (HMAC(jwa_alg_md(c->alg), c->sign_key.secret, (int)c->sign_key.secret_len,
			 input, c->input_len, mac, &mac_len) == NULL)
			return 0;
		return mac_len == c->sig_len && CRYPTO_memcmp(mac, c->sig, mac_len) == 0;
	default:
		break;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL ||
	    EVP_DigestVerifyInit(ctx, &pctx, jwa_alg_md(c->alg), NULL, c->pub) != 1)
		goto out;
	if (jwa_alg_family(c->alg) == JWA_FAMILY_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (c->der != NULL)
		ok = EVP_DigestVerify(ctx, c->der, c->der_len, input, c->input_len) == 1;
	else
		ok = EVP_DigestVerify(ctx, c->sig, c->sig_len, input, c->input_len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int full_verify(const struct bench_case *c)
{
	struct verdict v;

	verdict_init(&v);
	return jwt_verify(&c->cfg, c->ks, c->token, BENCH_USER, c->now, NULL, &v) == 0 &&
	       v.code == VERDICT_OK;
}

typedef int (*verify_fn)(const struct bench_case *c);

/* n operations; returns wall seconds (CLOCK_MONOTONIC), and the thread's CPU seconds in
 * *cpu when non-NULL. Any failed verification aborts the benchmark. */
static double run_cpu(verify_fn fn, const struct bench_case *c, long n, double *cpu)
{
	double c0 = clock_sec(CLOCK_THREAD_CPUTIME_ID), t0 = now_sec(), t1;
	long i, good = 0;

	for (i = 0; i < n; i++)
		good += fn(c);
	t1 = now_sec();
	if (cpu != NULL)
		*cpu = clock_sec(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (good != n) {
		fprintf(stderr, "bench_verify: %s: %ld of %ld verifications failed\n", c->name,
			n - good, n);
		exit(1);
	}
	return t1 - t0;
}

static double run(verify_fn fn, const struct bench_case *c, long n)
{
	return run_cpu(fn, c, n, NULL);
}

/* Number of operations that take about target seconds. */
static long calibrate(verify_fn fn, const struct bench_case *c, double target)
{
	long n = 16;
	double t;

	for (;;) {
		t = run(fn, c, n);
		if (t >= 0.02 || n > (1L << 28))
			break;
		n *= 4;
	}
	n = (long)((double)n * target / (t > 0 ? t : 1e-9));
	return n < 16 ? 16 : n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct bench_case *c, int rounds, double run_sec)
{
	double raw[64], full[64], paired[64], cpu[64], raw_cpu, full_cpu;
	long n_raw, n_full;
	int r;

	/* The first verification loads the key; it and a short warm-up stay untimed. */
	if (!full_verify(c) || !raw_verify(c))
		die("the benchmark token does not verify");
	n_raw = calibrate(raw_verify, c, run_sec);
	n_full = calibrate(full_verify, c, run_sec);
	for (r = 0; r < rounds; r++) {
		raw[r] = (double)n_raw / run_cpu(raw_verify, c, n_raw, &raw_cpu);
		full[r] = (double)n_full / run_cpu(full_verify, c, n_full, &full_cpu);
		paired[r] = full[r] / raw[r];
		cpu[r] = ((double)n_full / full_cpu) / ((double)n_raw / raw_cpu);
	}
	c->paired_ratio = median(paired, (size_t)rounds);
	c->cpu_ratio = median(cpu, (size_t)rounds);
	c->raw_rate = median(raw, (size_t)rounds);
	c->full_rate = median(full, (size_t)rounds);
	c->raw_spread = (raw[rounds - 1] - raw[0]) / c->raw_rate;
	c->full_spread = (full[rounds - 1] - full[0]) / c->full_rate;
}

/* A tampered token must fail on both sides, or the benchmark measures nothing. */
static void sanity(struct bench_case *c)
{
	char *orig = c->token;
	char *bad = strdup(orig);
	struct verdict v;
	size_t mid = c->input_len / 2;

	if (bad == NULL)
		die("out of memory");
	/* Flip one payload character to another base64url character. */
	bad[mid] = bad[mid] == 'A' ? 'B' : 'A';
	verdict_init(&v);
	if (jwt_verify(&c->cfg, c->ks, bad, BENCH_USER, c->now, NULL, &v) == 0)
		die("a tampered token was accepted by jwt_verify");
	c->token = bad;
	if (raw_verify(c))
		die("a tampered token was accepted by the raw side");
	c->token = orig;
	free(bad);
}

/* ---- jansson context ---------------------------------------------------------------- */

static double jansson_parse_us(const struct bench_case *c, int rounds)
{
	const char *dot1 = strchr(c->token, '.');
	unsigned char *hdr = NULL, *pl = NULL;
	size_t hdr_len = 0, pl_len = 0;
	double t[64], t0;
	long i, n = 20000;
	int r;
	json_t *a, *b;

	if (b64url_decode_alloc(c->token, (size_t)(dot1 - c->token), &hdr, &hdr_len) != 0 ||
	    b64url_decode_alloc(dot1 + 1, c->input_len - (size_t)(dot1 + 1 - c->token), &pl,
				&pl_len) != 0)
		die("cannot decode our own token");
	for (r = 0; r < rounds; r++) {
		t0 = now_sec();
		for (i = 0; i < n; i++) {
			a = json_loadb((const char *)hdr, hdr_len, JSON_REJECT_DUPLICATES, NULL);
			b = json_loadb((const char *)pl, pl_len, JSON_REJECT_DUPLICATES, NULL);
			if (a == NULL || b == NULL)
				die("jansson cannot parse our own token");
			json_decref(a);
			json_decref(b);
		}
		t[r] = (now_sec() - t0) / (double)n * 1e6;
	}
	free(hdr);
	free(pl);
	return median(t, (size_t)rounds);
}

/* ---- output --------------------------------------------------------------------------- */

static const char *met(const struct bench_case *c)
{
	if (c->min_full_rate > 0)
		return c->full_rate >= c->min_full_rate ? "yes" : "**no**";
	if (c->min_ratio > 0)
		return c->full_rate / c->raw_rate >= c->min_ratio ? "yes" : "**no**";
	return "n/a";
}

/* ---- --emit-es256 for bench_pam.sh ---------------------------------------------------- */

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wx");
	int rc = -1;

	if (f == NULL)
		return -1;
	if (fputs(text, f) >= 0)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static int emit_es256(int argc, char **argv)
{
	struct bench_case c;
	char *jwks;

	if (argc != 7) {
		fprintf(stderr, "usage: bench_verify --emit-es256 JWKS_OUT TOKEN_OUT USER "
			"ISSUER AUDIENCE\n");
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.name = "ES256";
	c.alg = JWA_ES256;
	c.now = (int64_t)time(NULL);
	jwks = make_key(&c, NULL);
	mint(&c, argv[4], argv[5], argv[6]);
	if (write_file(argv[2], jwks) != 0 || write_file(argv[3], c.token) != 0) {
		perror("bench_verify: write");
		return 2;
	}
	free(jwks);
	jwa_key_clear(&c.sign_key);
	EVP_PKEY_free(c.pub);
	free(c.token);
	free(c.sig);
	OPENSSL_free(c.der);
	return 0;
}

static int selected(const char *name)
{
	const char *only = getenv("BENCH_ONLY"), *p;
	size_t len = strlen(name);

	if (only == NULL || *only == '\0')
		return 1;
	for (p = only; p != NULL; p = strchr(p, ','), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	int rounds, cpu;
	double run_sec, parse_us, t0;
	EVP_PKEY *rsa = NULL;
	const struct bench_case *ctx_case = NULL;
	char raw_s[32], full_s[32];
	size_t i;

	if (argc > 1 && strcmp(argv[1], "--emit-es256") == 0)
		return emit_es256(argc, argv);
	if (argc > 1) {
		fprintf(stderr, "usage: bench_verify [--emit-es256 ...]\n");
		return 2;
	}
	rounds = (int)env_long("BENCH_ROUNDS", 15, 1, 64);
	run_sec = (double)env_long("BENCH_RUN_MS", 60, 5, 10000) / 1000.0;
	cpu = pin_cpu();

	t0 = now_sec();
	for (i = 0; i < NCASES; i++) {
		struct bench_case *c = &cases[i];
		int is_rsa = jwa_alg_family(c->alg) == JWA_FAMILY_RSA ||
			     jwa_alg_family(c->alg) == JWA_FAMILY_RSA_PSS;

		c->selected = selected(c->name);
		if (!c->selected)
			continue;
		/* One RSA-2048 key serves RS256 and PS256 (each entry pins its own alg). */
		if (is_rsa && rsa == NULL && (rsa = jwa_pkey_generate(c->alg, 2048)) == NULL)
			die("RSA key generation failed");
		case_setup(c, is_rsa ? rsa : NULL);
		sanity(c);
		measure(c, rounds, run_sec);
		if (ctx_case == NULL || c->alg == JWA_ES256)
			ctx_case = c;
	}
	EVP_PKEY_free(rsa);
	if (ctx_case == NULL)
		die("BENCH_ONLY selects no algorithm");
	parse_us = jansson_parse_us(ctx_case, rounds);

	printf("### Token verification: jwt_verify() vs raw OpenSSL EVP (one core)\n\n");
	printf("%s; jansson %s; pinned to CPU %d; %d interleaved rounds of ~%.0f ms per "
	       "side; median rates.\n\n", OpenSSL_version(OPENSSL_VERSION),
	       jansson_version_str(), cpu, rounds, run_sec * 1000);
	printf("| alg | raw EVP verify/s | full verify/s | ratio full/raw | target | met? |\n");
	printf("|---|---:|---:|---:|---|---|\n");
	for (i = 0; i < NCASES; i++) {
		const struct bench_case *c = &cases[i];

		if (!c->selected)
			continue;
		fmt_count(raw_s, sizeof(raw_s), c->raw_rate);
		fmt_count(full_s, sizeof(full_s), c->full_rate);
		printf("| %s | %s | %s | %.3f | %s | %s |\n", c->name, raw_s, full_s,
		       c->full_rate / c->raw_rate, c->target_text, met(c));
	}
	printf("\nDetails. Paired ratio: median over rounds of full/raw of adjacent runs; CPU "
	       "ratio: the same measured with the thread's CPU time, which preemption by other "
	       "load does not inflate (a check on the wall-clock figures on a busy machine).\n\n");
	printf("| alg | token bytes | raw µs/op | full µs/op | full - raw µs/op | "
	       "paired ratio | CPU-time ratio | spread raw / full, (max-min)/median |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
	for (i = 0; i < NCASES; i++) {
		const struct bench_case *c = &cases[i];

		if (!c->selected)
			continue;
		printf("| %s | %zu | %.2f | %.2f | %.2f | %.3f | %.3f | %.0f%% / %.0f%% |\n",
		       c->name, strlen(c->token), 1e6 / c->raw_rate, 1e6 / c->full_rate,
		       1e6 / c->full_rate - 1e6 / c->raw_rate, c->paired_ratio, c->cpu_ratio,
		       c->raw_spread * 100, c->full_spread * 100);
	}
	printf("\nContext: jansson json_loadb() of the decoded header + payload alone "
	       "(%s token, %zu-byte signing input): %.2f µs per token.\n", ctx_case->name,
	       ctx_case->input_len, parse_us);
	printf("Wall time of this benchmark: %.1f s.\n", now_sec() - t0);
	for (i = 0; i < NCASES; i++)
		if (cases[i].selected)
			case_free(&cases[i]);
	return 0;
}
