#include "cfgcheck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jwt.h"
#include "secfile.h"
#include "session.h"
#include "store.h"
#include "usermap.h"

/* Add a problem of `option` (at its line of the file) naming `path`. */
static void problem(struct config_report *r, const struct config *cfg, struct verdict *v,
		    const char *option, long line, const char *path, bool warning)
{
	verdict_where_fill(v, line > 0 ? cfg->config_path : NULL, line, option, path);
	config_report_add(r, v, warning);
}

static void problem_at(struct config_report *r, const struct config *cfg, struct verdict *v,
		       const char *option, const char *path)
{
	problem(r, cfg, v, option, config_option_line(cfg, option), path, false);
}

/* One jwks file on its own. jwks_cache, which pam-jwtd writes, may not be there yet. */
static void check_jwks_file(const struct config *cfg, size_t i, struct config_report *r)
{
	struct keyset *ks = keyset_new();
	struct verdict v;
	const char *path = cfg->jwks_paths[i];
	bool pending;
	size_t k;

	verdict_init(&v);
	if (ks == NULL) {
		verdict_set(&v, VERDICT_UNAVAILABLE, "out of memory");
		problem(r, cfg, &v, "jwks", cfg->jwks_lines[i], path, false);
		goto out;
	}
	ks->rsa_alg = cfg->jwks_rsa_alg;
	if (keyset_add_jwks_file(ks, path, &v) != 0) {
		pending = cfg->jwks_cache != NULL && strcmp(cfg->jwks_cache, path) == 0 &&
			  strcmp(v.reason, "file does not exist") == 0;
		if (pending)
			v.where.hint = "it is jwks_cache: pam-jwtd (or pam-jwtctl jwks fetch) "
				       "writes it; until then tokens are refused";
		problem(r, cfg, &v, "jwks", cfg->jwks_lines[i], path, pending);
		goto out;
	}
	for (k = 0; k < ks->count; k++)
		if (keyset_load_entry(ks, k, &v) != 0)
			problem(r, cfg, &v, "jwks", cfg->jwks_lines[i], path, false);
out:
	keyset_free(ks);
}

/* One key = file on its own: it opens, and its key loads. */
static void check_key_file(const struct config *cfg, size_t i, struct config_report *r)
{
	const struct config_key *key = &cfg->keys[i];
	struct keyset *ks = keyset_new();
	struct verdict v;

	verdict_init(&v);
	if (ks == NULL)
		verdict_set(&v, VERDICT_UNAVAILABLE, "out of memory");
	if (ks == NULL || keyset_add_file(ks, key->alg, key->kid, key->path, &v) != 0 ||
	    keyset_load_entry(ks, 0, &v) != 0)
		problem(r, cfg, &v, "key", key->line, key->path, false);
	keyset_free(ks);
}

/* Every verification key file alone, then all of them together (a kid taken twice). */
static void check_keys(const struct config *cfg, struct config_report *r,
		       struct keyset_notes *notes)
{
	struct keyset *ks = NULL;
	struct verdict v;
	size_t i, errors = r->errors;

	for (i = 0; i < cfg->jwks_count; i++)
		check_jwks_file(cfg, i, r);
	for (i = 0; i < cfg->key_count; i++)
		check_key_file(cfg, i, r);
	verdict_init(&v);
	if (jwt_keyset_load(cfg, &ks, notes, &v) != 0) {
		/* the notes of a failed load repeat the problems found file by file */
		memset(notes, 0, sizeof(*notes));
		if (r->errors == errors && strcmp(v.reason, "file does not exist") != 0)
			config_report_add(r, &v, false);
	}
	keyset_free(ks);
}

static void check_user_map(const struct config *cfg, struct config_report *r)
{
	struct usermap map;
	struct verdict v;

	verdict_init(&v);
	memset(&map, 0, sizeof(map));
	if (usermap_load(&map, cfg->user_map, &v) != 0)
		problem_at(r, cfg, &v, "user_map", cfg->user_map);
	usermap_free(&map);
}

static void check_store(const struct config *cfg, struct config_report *r)
{
	struct store *st = NULL;
	struct verdict v;
	const char *option = cfg->store != NULL ? "store" : "store_dir";

	struct stat sb;

	verdict_init(&v);
	if (session_store_open(cfg, true, &st, &v) != 0) {
		if (cfg->store == NULL && lstat(cfg->store_dir, &sb) != 0 && errno == ENOENT)
			v.where.hint = "create it (mode 0700, root's; see tmpfiles.d/pam_jwt.conf)";
		problem_at(r, cfg, &v, option, cfg->store != NULL ? NULL : cfg->store_dir);
	}
	store_close(st);
}

/* persist_dir: absent is allowed (revocations then last until a reboot), unusable is not. */
static void check_persist_dir(const struct config *cfg, struct config_report *r)
{
	struct store *st = NULL;
	struct verdict v;
	struct stat sb;

	verdict_init(&v);
	if (cfg->persist_dir == NULL)
		return;
	if (lstat(cfg->persist_dir, &sb) != 0 && errno == ENOENT) {
		verdict_set(&v, VERDICT_UNAVAILABLE, "persist_dir does not exist");
		v.where.hint = "create it (mode 0700, root's), or revocations and locks do not "
			       "survive a reboot";
		problem(r, cfg, &v, "persist_dir", config_option_line(cfg, "persist_dir"),
			cfg->persist_dir, true);
		return;
	}
	if (session_persist_open(cfg, &st, &v) != 0)
		problem_at(r, cfg, &v, "persist_dir", cfg->persist_dir);
	store_close(st);
}

static void check_signing_key(const struct config *cfg, unsigned int flags,
			      struct config_report *r)
{
	struct jwa_key key;
	struct verdict v;
	const char *bad;
	char *kid = NULL;

	verdict_init(&v);
	memset(&key, 0, sizeof(key));
	if (cfg->signing_key == NULL) {
		if ((flags & CFGCHECK_DAEMON) != 0) {
			verdict_set(&v, VERDICT_BAD_CONFIG, "signing_key is not set");
			v.where.hint = "pam-jwtctl keygen makes one";
			problem_at(r, cfg, &v, "signing_key", NULL);
		}
		return;
	}
	if (key_load_private(cfg->signing_key, JWA_INVALID, NULL, &key, &kid, &v) != 0) {
		problem_at(r, cfg, &v, "signing_key", cfg->signing_key);
	} else if ((bad = jwa_key_prepare_signing(&key)) != NULL) {
		verdict_set(&v, VERDICT_BAD_CONFIG, bad);
		problem_at(r, cfg, &v, "signing_key", cfg->signing_key);
	}
	jwa_key_clear(&key);
	free(kid);
}

/* A file option that names a file read under secfile rules. */
static void check_file(const struct config *cfg, const char *option, const char *path,
		       enum secfile_kind kind, struct config_report *r)
{
	struct verdict v;

	verdict_init(&v);
	if (path != NULL && secfile_check(path, kind, &v) != 0)
		problem_at(r, cfg, &v, option, path);
}

int config_check(const struct config *cfg, unsigned int flags, struct config_report *r,
		 struct keyset_notes *notes)
{
	struct verdict v;

	memset(notes, 0, sizeof(*notes));
	verdict_init(&v);
	if ((flags & CFGCHECK_NO_VALIDATE) == 0 && config_validate(cfg, &v) != 0)
		config_report_add(r, &v, false);
	if ((cfg->accept & CONFIG_ACCEPT_JWT) != 0)
		check_keys(cfg, r, notes);
	if (cfg->user_map != NULL)
		check_user_map(cfg, r);
	check_store(cfg, r);
	check_persist_dir(cfg, r);
	check_signing_key(cfg, flags, r);
	check_file(cfg, "redis_password_file", cfg->redis_password_file, SECFILE_SECRET, r);
	check_file(cfg, "redis_ca_file", cfg->redis_ca_file, SECFILE_PUBLIC, r);
	check_file(cfg, "redis_cert_file", cfg->redis_cert_file, SECFILE_PUBLIC, r);
	check_file(cfg, "redis_key_file", cfg->redis_key_file, SECFILE_SECRET, r);
	return r->errors > 0 ? -1 : 0;
}
