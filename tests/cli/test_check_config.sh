#!/bin/bash
# pam-jwtctl check-config [-c FILE] [-T]: exit 0 for a valid configuration (warnings
# allowed), 1 for an invalid one with every problem named by file, line, option and path,
# 2 when it cannot check (not root, the file cannot be read); -T prints every effective
# setting. pam-jwtd refuses to start on what check-config refuses. Needs root for all but
# the first checks.
set -u
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/common.sh"

if ! pj_have_build || [ ! -x "$BUILD_DIR/pam-jwtd" ]; then
	not_ok "pam-jwtctl and pam-jwtd are built ($PJ_CTL)"
	done_testing
	exit
fi
pj_tmpdir || { not_ok "make a temp dir"; done_testing; exit; }
chmod 0755 "$PJ_TMP"
OUT=$PJ_TMP/out
ERR=$PJ_TMP/err

# run_check WANT_RC ARGS...: check-config exits WANT_RC; stdout in OUT, stderr in ERR
run_check() {
	local want=$1 rc=0
	shift
	"$PJ_CTL" check-config "$@" >"$OUT" 2>"$ERR" || rc=$?
	[ "$rc" = "$want" ] || { echo "# exit $rc, want $want"; sed 's/^/#   /' "$ERR" | head -20; return 1; }
}
has() { grep -qF -- "$2" "$1" || { echo "# no '$2' in $1:"; sed 's/^/#   /' "$1" | head -20; return 1; }; }

# --- not root: cannot check ---------------------------------------------------------------
printf 'issuer = x\n' >"$PJ_TMP/min.conf"
chmod 0644 "$PJ_TMP/min.conf"
if [ "$(id -u)" != 0 ]; then
	check "not root: exit 2" run_check 2 -c "$PJ_TMP/min.conf"
	check "not root: says it must run as root" has "$ERR" "must run as root"
	done_testing
	exit
fi
runuser_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"; }
rc=0
runuser_nobody "$PJ_CTL" check-config -c "$PJ_TMP/min.conf" >"$OUT" 2>"$ERR" || rc=$?
check "not root: exit 2" test "$rc" = 2
check "not root: says it must run as root" has "$ERR" "must run as root"

# --- a valid configuration --------------------------------------------------------------
pj_keygen ES256 k1 || { not_ok "keygen"; done_testing; exit; }
K=$PJ_TMP/keys
head -c 32 /dev/urandom >"$K/h1.raw"
chmod 0600 "$K/h1.raw"
mkdir -m 0700 "$PJ_TMP/store" "$PJ_TMP/persist"
printf 'repo:org/app:ref:refs/heads/main ci\n' >"$PJ_TMP/users.map"
chmod 0644 "$PJ_TMP/users.map"
# conf NAME LINES...: $PJ_TMP/NAME.conf, the store and these lines
conf() {
	local f=$PJ_TMP/$1.conf
	shift
	{
		printf 'store_dir = %s\nallow_non_tmpfs = yes\npersist_dir = %s\n' \
			"$PJ_TMP/store" "$PJ_TMP/persist"
		printf 'socket_path = %s\n' "$PJ_TMP/pam-jwtd.sock"
		printf '%s\n' "$@"
	} >"$f"
	chmod 0644 "$f"
	CONF=$f
}
conf good "issuer = https://idp.example/   # the issuer" "jwks = $K/k1.jwks" \
	"key = HS256:h1:$K/h1.raw" "signing_key = $K/k1.key" "leeway = 30s" \
	"token_audiences = git.example.org, ci   # two"
check "a valid configuration: exit 0" run_check 0 -c "$CONF"
check "... and no error or warning" test ! -s "$PJ_TMP/err" -o -z "$(grep -E '^(error|warning):' "$ERR")"
check "... pam-jwtd not running is a notice" has "$ERR" "notice: pam-jwtd is not running"
check "-T: exit 0" run_check 0 -c "$CONF" -T
check "-T: the file's settings, comments stripped" \
	has "$OUT" "issuer https://idp.example/"
check "-T: durations in seconds" has "$OUT" "leeway 30s"
check "-T: defaults included" has "$OUT" "session_ttl 28800s"
check "-T: unset settings are none" has "$OUT" "audience none"
check "-T: repeatable settings one line each" \
	eval '[ "$(grep -c "^token_audiences " "$OUT")" = 2 ]'
check "-T: key as ALG:KID:PATH" has "$OUT" "key HS256:h1:$K/h1.raw"
check "-T: every line is 'name value'" eval '! grep -vqE "^[a-z_]+ " "$OUT"'
cp "$OUT" "$PJ_TMP/first"
run_check 0 -c "$CONF" -T
check "-T: the same output twice (stable order)" cmp -s "$OUT" "$PJ_TMP/first"
secret=$(od -An -tx1 "$K/h1.raw" | tr -d " \n" | cut -c1-16)
check "-T: no secret: the HMAC key's bytes are not shown" eval '! grep -qiF -- "$secret" "$OUT" && ! grep -qaF -- "$(head -c 8 "$K/h1.raw")" "$OUT"'
check "-T: the signing key is shown as its path" has "$OUT" "signing_key $K/k1.key"

# --- every problem of a file, each with where it is -------------------------------------
conf typos "jwks = $K/k1.jwks" "leewya = 30" "issuer = a" "issuer = b" "this is not an option line" \
	"debug = maybe"
check "typos: exit 1" run_check 1 -c "$CONF"
check "typos: did you mean, with file and line" \
	has "$ERR" "error: unknown option [$CONF line 6, option leewya]; did you mean leeway?"
check "typos: a repeated single-value option" \
	has "$ERR" "error: option given more than once (first at line 7) [$CONF line 8, option issuer]"
check "typos: a line that is not key = value" has "$ERR" "[$CONF line 9]"
check "typos: a bad value names the option" has "$ERR" "boolean must be yes or no [$CONF line 10, option debug]"
check "typos: four errors, all listed" eval '[ "$(grep -c "^error:" "$ERR")" = 4 ]'
check "typos: a summary line" has "$ERR" "$CONF: 4 error(s), 0 warning(s)"
check "typos: -T prints no settings for an invalid file" eval 'run_check 1 -c "$CONF" -T && [ ! -s "$OUT" ]'

# --- files and directories the options name ---------------------------------------------
conf files "jwks = $K/k1.jwks" "key = ES256:k9:$PJ_TMP/missing.pem" "user_map = $PJ_TMP/nomap"
check "missing files: exit 1" run_check 1 -c "$CONF"
check "missing key file: file, line, option, path, what to do" \
	has "$ERR" "error: file does not exist [$CONF line 6, option key, path $PJ_TMP/missing.pem]; create the file or correct the path"
check "missing user_map: named with its line" has "$ERR" "[$CONF line 7, option user_map, path $PJ_TMP/nomap]"
cp "$K/k1.jwks" "$PJ_TMP/loose.jwks"
chmod 0666 "$PJ_TMP/loose.jwks"
conf loose "jwks = $PJ_TMP/loose.jwks"
check "a world-writable jwks: exit 1" run_check 1 -c "$CONF"
check "... says what to do" has "$ERR" "file is group- or world-writable [$CONF line 5, option jwks, path $PJ_TMP/loose.jwks]; chmod go-w the file"
printf 'not a key\n' >"$PJ_TMP/bad.pem"
chmod 0644 "$PJ_TMP/bad.pem"
conf badkey "key = ES256:$PJ_TMP/bad.pem"
check "a key that does not parse is found before a token needs it" run_check 1 -c "$CONF"
check "... named" has "$ERR" "PEM public key does not parse [$CONF line 5, option key, path $PJ_TMP/bad.pem]"
conf nostore "jwks = $K/k1.jwks"
sed -i "s|^store_dir = .*|store_dir = $PJ_TMP/nostore|" "$CONF"
check "a missing store directory: exit 1" run_check 1 -c "$CONF"
check "... named with what to do" has "$ERR" "[$CONF line 1, option store_dir, path $PJ_TMP/nostore]; create it"
conf nopersist "jwks = $K/k1.jwks"
sed -i "s|^persist_dir = .*|persist_dir = $PJ_TMP/nopersist|" "$CONF"
check "a missing persist_dir is a warning: exit 0" run_check 0 -c "$CONF"
check "... warned" has "$ERR" "warning: persist_dir does not exist [$CONF line 3, option persist_dir, path $PJ_TMP/nopersist]"
conf cache "jwks = $PJ_TMP/cache.jwks" "jwks_cache = $PJ_TMP/cache.jwks" "issuer = https://idp.example"
check "jwks_cache not fetched yet is a warning: exit 0" run_check 0 -c "$CONF"
check "... saying pam-jwtd writes it" has "$ERR" "it is jwks_cache: pam-jwtd"
conf nosock "jwks = $K/k1.jwks"
sed -i "s|^socket_path = .*|socket_path = $PJ_TMP/no/such/dir/pam-jwtd.sock|" "$CONF"
check "socket_path in no directory: exit 1" run_check 1 -c "$CONF"
check "... named" has "$ERR" "option socket_path, path $PJ_TMP/no/such/dir/pam-jwtd.sock"

# --- cannot check -------------------------------------------------------------------------
check "a missing file: exit 2" run_check 2 -c "$PJ_TMP/none.conf"
check "... names the path" has "$ERR" "cannot check: file does not exist [path $PJ_TMP/none.conf]"
check "usage error: exit 2" run_check 2 -c "$PJ_TMP/min.conf" extra

# --- pam-jwtd makes the same check ------------------------------------------------------
conf daemon "jwks = $K/k1.jwks" "signing_key = $K/k1.key" "leewya = 30"
rc=0
timeout 10 "$BUILD_DIR/pam-jwtd" -c "$CONF" --stderr >"$OUT" 2>&1 || rc=$?
check "pam-jwtd refuses to start on an invalid configuration" test "$rc" = 1
check "... and logs each problem with where it is" \
	has "$OUT" "configuration error: unknown option [$CONF line 7, option leewya]; did you mean leeway?"
conf nosign "jwks = $K/k1.jwks"
rc=0
timeout 10 "$BUILD_DIR/pam-jwtd" -c "$CONF" --stderr >"$OUT" 2>&1 || rc=$?
check "pam-jwtd needs signing_key" eval '[ "$rc" = 1 ] && grep -qF "signing_key is not set" "$OUT"'
done_testing
