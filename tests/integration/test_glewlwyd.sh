#!/bin/bash
# shellcheck disable=SC2016 # check DESC eval '...': expanded when eval runs
# A real OpenID provider (root): glewlwyd, Debian's OAuth2/OIDC server, issues the ID
# tokens; pam-jwtd and pam-jwtctl fetch its keys through discovery; the tokens log in
# through pamtester and a real sshd; a key rotation at the provider reaches the cache.
#
# Pieces (all new, uniquely named, removed at exit):
# - a temp dir (0755, root's) with glewlwyd's directory (0700: its sqlite database made
#   from the schema the package ships, its config, RSA keys made with openssl, the admin
#   session's cookie jar, client and user secrets), the JWKS cache directory (0755) and
#   the pam_jwt config (0644); the store on /dev/shm (0700);
# - glewlwyd on 127.0.0.1 and a free port, started by this suite (the package's own
#   service, if one runs, is neither used nor touched);
# - a local user (with home) whose glewlwyd account carries the same name, and a
#   glewlwyd-only user; two clients of the oidc plugin (two audiences);
# - pam-jwtd -c CONF --stderr, its log in $PJ_TMP/pam-jwtd.log;
# - a pam.d service for pamtester, and sshd's own service and config (see test_sshd.sh).
#
# glewlwyd's choices that shape the setup:
# - the oidc plugin serves its discovery document at EXTERNAL_URL/api/PLUGIN/.well-known/
#   openid-configuration, so the issuer is EXTERNAL_URL/api/PLUGIN (the plugin's "iss",
#   copied verbatim into the document and into every token: no trailing slash);
# - "sub" is a random string per user (subject-type public), so the login name comes from
#   an additional mandatory claim, preferred_username <- the user's "username" property;
# - the resource-owner password grant yields an ID token only with "allow-non-oidc" and
#   "auth-type-password-enabled", for a confidential client whose authorization_type lists
#   "password" and whose token_endpoint_auth_method is set;
# - signing keys are a private JWKS ("jwks-private", every key with kid and alg) and
#   "default-kid"; a changed plugin configuration takes effect only after .../reset;
# - /jwks and the discovery document are sent with "Cache-Control: no-store".
set -u
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/common.sh
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_glewlwyd needs root"
	done_testing
	exit
fi
PJ_D=$BUILD_DIR/pam-jwtd
if ! pj_have_build || [ ! -x "$PJ_D" ]; then
	not_ok "the module, pam-jwtctl and pam-jwtd are built"
	done_testing
	exit
fi
GLEWLWYD=/usr/bin/glewlwyd
SCHEMA=/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3
missing=""
[ -x "$GLEWLWYD" ] || missing+=" glewlwyd"
[ -f "$SCHEMA" ] || missing+=" $SCHEMA"
for c in sqlite3 curl openssl pamtester ssh ssh-keygen setpriv ss; do
	command -v "$c" >/dev/null || missing+=" $c"
done
[ -x /usr/sbin/sshd ] || missing+=" sshd"
if [ -n "$missing" ]; then
	not_ok "glewlwyd, sqlite3, curl, openssl, pamtester, openssh are installed (scripts/install-deps); missing:$missing"
	done_testing
	exit
fi

pj_tmpdir || exit 1
chmod 0755 "$PJ_TMP"
pj_store_dir || exit 1
G=$PJ_TMP/glewlwyd
mkdir -m 0700 "$G"
mkdir -m 0755 "$PJ_TMP/cache" "$PJ_TMP/sock" "$PJ_TMP/tok"
CACHE=$PJ_TMP/cache/glewlwyd.json
DLOG=$PJ_TMP/pam-jwtd.log
pj_keygen ES256 signer || { not_ok "keygen for pam-jwtd"; done_testing; exit; }

# wait_for SECONDS CMD...: CMD succeeds within SECONDS
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done
}
free_port() {
	"$PJ_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }
# json_get FILE EXPR: print the Python expression EXPR over the JSON document d in FILE
json_get() { "$PJ_PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# tok_part FILE header|payload: one decoded part of a stored token, as JSON
tok_part() {
	"$PJ_PY" - "$1" "$2" <<-'EOF'
	import base64, sys
	h, p, _ = open(sys.argv[1]).read().strip().split(".")
	s = h if sys.argv[2] == "header" else p
	print(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode())
	EOF
}
# tok_claim FILE NAME / tok_kid FILE: a claim of a stored token / its header's kid
tok_claim() { tok_part "$1" payload | "$PJ_PY" -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"; }
tok_kid() { tok_part "$1" header | "$PJ_PY" -c 'import json, sys; print(json.load(sys.stdin).get("kid", ""))'; }

# --- glewlwyd: database, config, start ----------------------------------------------
# The schema dbconfig-common would load: tables, the default scopes, the database user
# and client backends, and the administrator admin/password (GETTING_STARTED.md).
if ! sqlite3 "$G/glewlwyd.db" <"$SCHEMA" >"$G/sqlite.log" 2>&1; then
	not_ok "create glewlwyd's sqlite database from $SCHEMA"
	sed 's/^/#   /' "$G/sqlite.log" | head -5
	done_testing
	exit
fi
mkdir -m 0700 "$G/none"
# write_glewlwyd_conf PORT: the adapted /etc/glewlwyd/glewlwyd.conf. Not in it:
# use_secure_connection (glewlwyd then insists on certificate files even when it is
# false), the metrics endpoint, static files (the web app; everything here is the API).
write_glewlwyd_conf() {
	cat >"$G/glewlwyd.conf" <<EOF
port=$1
bind_address="127.0.0.1"
external_url="http://127.0.0.1:$1"
api_prefix="api"
log_mode="console"
log_level="INFO"
cookie_secure=0
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
user_middleware_module_path="$G/none"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
hash_algorithm="SHA512"
database =
{
  type = "sqlite3"
  path = "$G/glewlwyd.db"
};
EOF
}
GPID=""
for _ in 1 2 3 4 5; do
	GPORT=$(free_port)
	write_glewlwyd_conf "$GPORT"
	: >"$G/glewlwyd.log"
	# --pdeathsig: glewlwyd also ends if this suite is killed outright (no EXIT trap then)
	setpriv --pdeathsig TERM -- "$GLEWLWYD" --config-file "$G/glewlwyd.conf" \
		>"$G/glewlwyd.log" 2>&1 &
	pid=$!
	answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GPORT/api/")" != 000 ]; }
	if wait_for 15 eval 'answers || ! kill -0 "$pid" 2>/dev/null' && kill -0 "$pid" 2>/dev/null &&
		answers; then
		GPID=$pid
		pj_defer kill "$pid"
		break
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
if [ -z "$GPID" ]; then
	not_ok "glewlwyd started on 127.0.0.1"
	sed 's/^/#   /' "$G/glewlwyd.log" | tail -10
	done_testing
	exit
fi
ok "glewlwyd started on 127.0.0.1:$GPORT (pid $GPID) and answers"
check "glewlwyd listens on 127.0.0.1 only" \
	eval 'ss -Hltnp "sport = :$GPORT" | grep -q "pid=$GPID," &&
		! ss -Hltnp | grep "pid=$GPID," | grep -vq "127.0.0.1:$GPORT "'
GBASE=http://127.0.0.1:$GPORT
ISS=$GBASE/api/oidc

# api METHOD PATH [JSONFILE]: an admin API call with the session in the cookie jar; the
# answer goes to $G/resp; fails unless the status is 2xx
api() {
	local method=$1 path=$2 data=${3:-} code
	local args=(-sS -o "$G/resp" -w '%{http_code}' -b "$G/cookies" -c "$G/cookies" -X "$method")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "@$data")
	code=$(curl "${args[@]}" "$GBASE/api/$path") || return 1
	[ "${code:0:1}" = 2 ] && return 0
	echo "# $method /api/$path: HTTP $code: $(head -c 300 "$G/resp")" >&2
	return 1
}
printf '{"username":"admin","password":"password"}' >"$G/admin.json"
check "admin logs in (the schema's default admin/password)" api POST auth/ "$G/admin.json"

# --- signing keys (openssl) and the oidc plugin -----------------------------------------
# rsa_jwk NAME: an RSA key made with openssl ($G/NAME.pem) and its private JWK with kid
# NAME, alg RS256 ($G/NAME.jwk)
rsa_jwk() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$G/$1.pem" 2>/dev/null &&
		"$PJ_PY" - "$G/$1.pem" "$1" "$G/$1.jwk" <<-'EOF'
	import json, sys
	import jwt
	from cryptography.hazmat.primitives import serialization
	key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
	jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
	jwk.update(kid=sys.argv[2], alg="RS256", use="sig")
	json.dump(jwk, open(sys.argv[3], "w"))
	EOF
}
KID1=glew-$$-1
KID2=glew-$$-2
check "two RSA keys made with openssl, as JWKs (kid $KID1, $KID2)" eval 'rsa_jwk "$KID1" && rsa_jwk "$KID2"'

# plugin_json OUT DEFAULT_KID KID...: the oidc plugin instance with the private keys of
# KID... (the signing key DEFAULT_KID)
plugin_json() {
	"$PJ_PY" - "$ISS" "$G" "$@" <<-'EOF'
	import json, sys
	iss, g, out, default = sys.argv[1:5]
	keys = [json.load(open("%s/%s.jwk" % (g, kid))) for kid in sys.argv[5:]]
	params = {
	    "iss": iss,
	    "jwks-private": json.dumps({"keys": keys}),
	    "default-kid": default,
	    "jwks-show": True,
	    "subject-type": "public",
	    "access-token-duration": 600,
	    "refresh-token-duration": 3600,
	    "code-duration": 60,
	    "allow-non-oidc": True,
	    "auth-type-password-enabled": True,
	    "auth-type-code-enabled": True,
	    "auth-type-client-enabled": False,
	    "auth-type-refresh-enabled": False,
	    "email-claim": "mandatory",
	    "claims": [{"name": "preferred_username", "user-property": "username",
	                "type": "string", "mandatory": True, "on-demand": False, "scope": []}],
	}
	doc = {"module": "oidc", "name": "oidc", "display_name": "pam_jwt test",
	       "enabled": True, "parameters": params}
	json.dump(doc, open("%s/%s" % (g, out), "w"))
	EOF
}
# published: the kids glewlwyd's /jwks lists, sorted, space-separated
published() {
	curl -sS -o "$G/jwks.out" "$ISS/jwks" &&
		json_get "$G/jwks.out" '" ".join(sorted(k["kid"] for k in d["keys"]))'
}
plugin_json plugin1.json "$KID1" "$KID1"
if api POST mod/plugin/ "$G/plugin1.json" && api PUT mod/plugin/oidc/reset; then
	ok "oidc plugin instance created (issuer $ISS, signing key $KID1)"
else
	not_ok "oidc plugin instance created"
	tail -5 "$G/glewlwyd.log" | sed 's/^/#   /'
fi
curl -sS -o "$G/discovery.json" "$ISS/.well-known/openid-configuration"
check "discovery: issuer is exactly $ISS" \
	test "$(json_get "$G/discovery.json" 'd.get("issuer")' 2>/dev/null)" = "$ISS"
check "discovery: jwks_uri is $ISS/jwks" \
	test "$(json_get "$G/discovery.json" 'd.get("jwks_uri")' 2>/dev/null)" = "$ISS/jwks"
check "glewlwyd publishes $KID1 (and only it)" test "$(published)" = "$KID1"

# --- users and clients --------------------------------------------------------------
pj_add_user -m || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
OTHER=$(pj_unused_user)
echo "# local user $U; glewlwyd-only user $OTHER"
# glewlwyd_user NAME: a glewlwyd user NAME with a random password ($G/NAME.pw) and the
# scope openid
glewlwyd_user() {
	secret >"$G/$1.pw"
	"$PJ_PY" - "$1" "$G/$1.pw" "$G/user-$1.json" <<-'EOF'
	import json, sys
	name, pw, out = sys.argv[1:4]
	json.dump({"username": name, "name": "pam_jwt test " + name, "email": name + "@pamjwt.test",
	           "password": open(pw).read().strip(), "enabled": True, "scope": ["openid"]},
	          open(out, "w"))
	EOF
	api POST user/ "$G/user-$1.json"
}
# glewlwyd_client ID: a confidential client ID allowed the password grant, with a random
# secret kept in a curl config file $G/ID.curl (no secret on a command line)
glewlwyd_client() {
	local s
	s=$(secret)
	printf 'user = "%s:%s"\n' "$1" "$s" >"$G/$1.curl"
	"$PJ_PY" - "$1" "$s" "$G/client-$1.json" <<-'EOF'
	import json, sys
	cid, s, out = sys.argv[1:4]
	json.dump({"client_id": cid, "name": cid, "confidential": True, "client_secret": s,
	           "enabled": True, "authorization_type": ["password"],
	           "token_endpoint_auth_method": ["client_secret_basic"],
	           "redirect_uri": ["http://127.0.0.1/unused"], "scope": []}, open(out, "w"))
	EOF
	api POST client/ "$G/client-$1.json"
}
AUD=pamjwt-test-$$-ssh
AUD2=pamjwt-test-$$-other
check "glewlwyd users $U and $OTHER created" eval 'glewlwyd_user "$U" && glewlwyd_user "$OTHER"'
check "glewlwyd clients $AUD and $AUD2 created" eval 'glewlwyd_client "$AUD" && glewlwyd_client "$AUD2"'

# id_token NAME CLIENT USER: an ID token from glewlwyd's token endpoint (resource-owner
# password grant, scope openid) into $PJ_TMP/tok/NAME; sets PJ_TOKEN
id_token() {
	local name=$1 client=$2 user=$3 code
	PJ_TOKEN=$PJ_TMP/tok/$name
	rm -f -- "$PJ_TOKEN"
	"$PJ_PY" -c 'import sys, urllib.parse as u; sys.stdout.write(u.urlencode({"grant_type": "password",
"scope": "openid", "username": sys.argv[1], "password": open(sys.argv[2]).read().strip()}))' \
		"$user" "$G/$user.pw" >"$G/grant"
	code=$(curl -sS -K "$G/$client.curl" --data-binary "@$G/grant" \
		-H 'Content-Type: application/x-www-form-urlencoded' \
		-o "$G/token.json" -w '%{http_code}' "$ISS/token") || return 1
	if [ "$code" != 200 ] || ! json_get "$G/token.json" 'd["id_token"]' >"$PJ_TOKEN" 2>/dev/null ||
		[ ! -s "$PJ_TOKEN" ]; then
		rm -f -- "$PJ_TOKEN"
		echo "# token endpoint: HTTP $code: $(head -c 300 "$G/token.json")" >&2
		return 1
	fi
	chmod 0600 "$PJ_TOKEN"
}
check "password grant: ID token for $U from client $AUD" id_token valid "$AUD" "$U"
VALID=$PJ_TMP/tok/valid
check "the ID token is glewlwyd's: iss $ISS, aud $AUD, kid $KID1, preferred_username $U" eval '
	[ "$(tok_claim "$VALID" iss)" = "$ISS" ] && [ "$(tok_claim "$VALID" aud)" = "$AUD" ] &&
	[ "$(tok_kid "$VALID")" = "$KID1" ] && [ "$(tok_claim "$VALID" preferred_username)" = "$U" ]'
echo "# sub of $U at glewlwyd: $(tok_claim "$VALID" sub 2>/dev/null) (random, hence user_claim = preferred_username)"
id_token other "$AUD" "$OTHER" || not_ok "ID token for $OTHER"
OTHER_TOK=$PJ_TMP/tok/other
id_token aud2 "$AUD2" "$U" || not_ok "ID token for $U from client $AUD2"
AUD2_TOK=$PJ_TMP/tok/aud2
[ -s "$VALID" ] && pj_tamper_sig "$VALID" "$PJ_TMP/tok/tampered"
TAMPERED=$PJ_TMP/tok/tampered

# --- pam_jwt config, pam-jwtctl jwks fetch / show -----------------------------------------
CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOF
# what an admin would write for this provider
issuer = $ISS
audience = $AUD
jwks = $CACHE
jwks_cache = $CACHE
jwks_refresh = 2s
user_claim = preferred_username
store_dir = $PJ_STORE
persist_dir = none
signing_key = $PJ_TMP/keys/signer.key
socket_path = $PJ_TMP/sock/pam-jwtd.sock
EOF
chmod 0644 "$CONF"
# The same provider, the login name from the email claim instead
CONF_MAIL=$PJ_TMP/pam_jwt_mail.conf
sed -e 's/^user_claim = .*/user_claim = email/' "$CONF" >"$CONF_MAIL"
echo "user_domain = pamjwt.test" >>"$CONF_MAIL"
chmod 0644 "$CONF_MAIL"

# verify TOKENFILE [USER] [CONF]: pam-jwtctl verify accepts the token for USER (default $U)
verify() {
	[ -s "$1" ] || return 1
	"$PJ_CTL" verify -c "${3:-$CONF}" -u "${2:-$U}" - <"$1" >"$PJ_TMP/verify.out" 2>&1
}
# refused_because TOKENFILE TEXT: pam-jwtctl verify refuses the token for $U, the reason
# containing TEXT; shows the reason
refused_because() {
	local reason
	[ -s "$1" ] || return 1
	reason=$(pj_verify_reason "$CONF" "$U" "$1") || return 1
	echo "#   reason: $reason"
	grep -qiF -- "$2" <<<"$reason"
}

check_fails "before any fetch the token does not verify (no keys)" verify "$VALID"
check "pam-jwtctl jwks fetch (discovery at $ISS/.well-known/openid-configuration)" \
	eval '"$PJ_CTL" jwks fetch -c "$CONF" >"$PJ_TMP/fetch.out" 2>&1'
sed 's/^/#   /' "$PJ_TMP/fetch.out"
check "the cache file is root's, mode 0644" test "$(stat -c '%u %a' "$CACHE" 2>/dev/null)" = "0 644"
show=$("$PJ_CTL" jwks show -c "$CONF" 2>&1)
check "jwks show lists $KID1 (RS256) from the cache" grep -q "kid=$KID1 alg=RS256 source=$CACHE" <<<"$show"
check "glewlwyd's ID token verifies (pam-jwtctl verify)" verify "$VALID"
check "with user_claim = email and user_domain = pamjwt.test it verifies too" \
	verify "$VALID" "$U" "$CONF_MAIL"
check "$OTHER's token is refused for $U (user claim)" refused_because "$OTHER_TOK" "another user"
check "a tampered token is refused (signature)" refused_because "$TAMPERED" "signature"
check "a token of client $AUD2 is refused (audience)" refused_because "$AUD2_TOK" "aud"

# --- pam-jwtd fetches the keys itself -----------------------------------------------------
rm -f -- "$CACHE"
"$PJ_D" -c "$CONF" --stderr >"$DLOG" 2>&1 &
DPID=$!
# (at exit: SIGTERM, then SIGCONT in case the suite ends while pam-jwtd is stopped below)
pj_defer kill -CONT "$DPID"
pj_defer kill "$DPID"
check "pam-jwtd fetches glewlwyd's keys at start (discovery) and writes the cache" \
	wait_for 10 eval 'grep -q "JWKS fetched into $CACHE" "$DLOG" && [ -s "$CACHE" ]'
grep "JWKS fetched into" "$DLOG" | head -1 | sed 's/^/#   pam-jwtd: /'
check "the token verifies with the keys pam-jwtd fetched" verify "$VALID"

# --- pamtester ----------------------------------------------------------------------------
pj_service main <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
EOF
SVC=$PJ_SERVICE
# logs_in_pam DESC TOKENFILE / refused_pam DESC TOKENFILE: pamtester as $U
logs_in_pam() {
	pj_have_token "$1" "$2" || return
	if pj_pamtester "$SVC" "$U" "$2" authenticate acct_mgmt &&
		grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out" &&
		grep -q 'account management done' "$PJ_TMP/pamtester.out"; then ok "$1"; else
		not_ok "$1"
		sed 's/^/#   /' "$PJ_TMP/pamtester.out"
	fi
}
refused_pam() {
	local rc=0
	pj_have_token "$1" "$2" || return
	pj_pamtester "$SVC" "$U" "$2" authenticate acct_mgmt || rc=$?
	if [ "$rc" != 0 ] && grep -qF "pamtester: Authentication failure" "$PJ_TMP/pamtester.out"; then
		ok "$1"
	else
		not_ok "$1 (exit $rc)"
		sed 's/^/#   /' "$PJ_TMP/pamtester.out"
	fi
}
logs_in_pam "pamtester: $U logs in with glewlwyd's ID token" "$VALID"
refused_pam "pamtester: $OTHER's ID token is refused for $U" "$OTHER_TOK"
refused_pam "pamtester: a tampered ID token is refused" "$TAMPERED"
refused_pam "pamtester: an ID token for client $AUD2 is refused" "$AUD2_TOK"

# --- sshd (keyboard-interactive), as test_sshd.sh sets it up ----------------------------
if [ ! -d /run/sshd ]; then
	mkdir -m 0755 /run/sshd && pj_defer rmdir /run/sshd
fi
ssh-keygen -q -t ed25519 -N '' -C pamjwt-test-host -f "$PJ_TMP/hostkey" </dev/null
SSVC=pamjwt-sshd-$$
pj_sshd_link "$SSVC" || { not_ok "symlink $PJ_TMP/$SSVC -> /usr/sbin/sshd"; done_testing; exit; }
# auth optional pam_permit.so: sshd's pam_setcred needs a module that succeeds there;
# account required pam_permit.so: for logins pam_jwt did not authenticate it ignores
pj_pamd_write "$SSVC" <<EOF || { not_ok "write /etc/pam.d/$SSVC"; done_testing; exit; }
auth     required $PJ_MOD config=$CONF
auth     optional pam_permit.so
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
session  required pam_permit.so
password required pam_deny.so
EOF
cat >"$PJ_TMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $PJ_TMP/hostkey
PidFile $PJ_TMP/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AllowUsers $U
PermitRootLogin no
MaxAuthTries 3
LoginGraceTime 60
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
LogLevel VERBOSE
EOF
printf '#!/bin/sh\nexec cat -- "$PJ_TOKEN_FILE"\n' >"$PJ_TMP/askpass"
chmod 0700 "$PJ_TMP/askpass"
SSHD_PID=""
for _ in 1 2 3 4 5; do
	SPORT=$(free_port)
	: >"$PJ_TMP/sshd.log"
	setpriv --pdeathsig TERM -- "$PJ_SSHD" -D \
		-f "$PJ_TMP/sshd_config" -p "$SPORT" -E "$PJ_TMP/sshd.log" &
	pid=$!
	if wait_for 10 eval 'grep -q "Server listening on 127.0.0.1 port $SPORT" "$PJ_TMP/sshd.log" ||
		! kill -0 "$pid" 2>/dev/null' && kill -0 "$pid" 2>/dev/null; then
		SSHD_PID=$pid
		pj_defer kill "$pid"
		break
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
# ssh_token TOKENFILE: OpenSSH client, keyboard-interactive only, the token through
# SSH_ASKPASS; runs `id -un`
ssh_token() {
	PJ_TOKEN_FILE=$1 SSH_ASKPASS=$PJ_TMP/askpass SSH_ASKPASS_REQUIRE=force \
		timeout 60 setsid -w env -u DISPLAY ssh -F /dev/null -p "$SPORT" \
		-o UserKnownHostsFile="$PJ_TMP/known_hosts" -o GlobalKnownHostsFile=/dev/null \
		-o StrictHostKeyChecking=yes -o IdentityAgent=none -o ConnectTimeout=20 \
		-o LogLevel=ERROR -l "$U" \
		-o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
		-o PasswordAuthentication=no -o KbdInteractiveAuthentication=yes \
		-o NumberOfPasswordPrompts=1 -o BatchMode=no \
		127.0.0.1 id -un </dev/null >"$PJ_TMP/ssh.out" 2>"$PJ_TMP/ssh.err"
}
if [ -z "$SSHD_PID" ]; then
	not_ok "sshd started on 127.0.0.1"
	sed 's/^/#   /' "$PJ_TMP/sshd.log" | tail -5
else
	ok "sshd started on 127.0.0.1:$SPORT as $PJ_SSHD"
	printf '[127.0.0.1]:%s %s\n' "$SPORT" "$(cut -d' ' -f1,2 "$PJ_TMP/hostkey.pub")" \
		>"$PJ_TMP/known_hosts"
	if ! pj_user_reaches "$U" /usr/bin/id; then
		not_ok "the test user can run /bin/sh and /usr/bin/id"
	elif [ -s "$VALID" ]; then
		rc=0
		ssh_token "$VALID" || rc=$?
		if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/ssh.out")" = "$U" ] &&
			grep -q "Accepted keyboard-interactive/pam for $U from 127.0.0.1" "$PJ_TMP/sshd.log"; then
			ok "sshd: $U logs in with glewlwyd's ID token (keyboard-interactive); id -un is $U"
		else
			not_ok "sshd: $U logs in with glewlwyd's ID token (exit $rc)"
			sed 's/^/#   /' "$PJ_TMP/ssh.err" | head -5
			grep -v '^debug' "$PJ_TMP/sshd.log" | tail -5 | sed 's/^/#   sshd: /'
		fi
	else
		not_ok "sshd: login with glewlwyd's ID token (no token)"
	fi
	for t in other tampered aud2; do
		rc=0
		if [ ! -s "$PJ_TMP/tok/$t" ]; then not_ok "sshd: $t token refused (no token)"; continue; fi
		ssh_token "$PJ_TMP/tok/$t" || rc=$?
		if [ "$rc" = 255 ] && [ ! -s "$PJ_TMP/ssh.out" ]; then ok "sshd: the $t token is refused"
		else not_ok "sshd: the $t token is refused (exit $rc)"; fi
	done
fi

# --- key rotation at the provider ---------------------------------------------------------
# cache_kids: the kids in the cache file, sorted, space-separated
cache_kids() { json_get "$CACHE" '" ".join(sorted(k["kid"] for k in d["keys"]))' 2>/dev/null; }
# refetched WANT: wait until the cache holds exactly the kids WANT. pam-jwtd's periodic
# refetch (jwks_refresh = 2s; glewlwyd's "Cache-Control: no-store" cannot make it rarer
# than that) is given 8 s; should it not come, the check fails.
cache_is() { [ "$(cache_kids)" = "$1" ]; }
refetched() {
	wait_for 8 cache_is "$1" && return 0
	echo "#   not refetched within 8 s ($(grep -o 'next in [0-9]* s' "$DLOG" | tail -1))"
	return 1
}
BOTH=$(printf '%s\n' "$KID1" "$KID2" | sort | tr '\n' ' ' | sed 's/ $//')
plugin_json plugin2.json "$KID2" "$KID2" "$KID1"
# pam-jwtd is stopped (SIGSTOP) while the provider rotates, so that no refetch can come
# between the rotation and the check that the cache does not know the new key yet
kill -STOP "$DPID"
check "rotation: the plugin signs with $KID2 and still publishes $KID1" eval '
	api PUT mod/plugin/oidc "$G/plugin2.json" && api PUT mod/plugin/oidc/reset &&
	[ "$(published)" = "$BOTH" ]'
check "rotation: a new ID token is signed with $KID2" \
	eval 'id_token new "$AUD" "$U" && [ "$(tok_kid "$PJ_TMP/tok/new")" = "$KID2" ]'
NEW=$PJ_TMP/tok/new
check "rotation: before the refetch the new token is refused (kid not in the cache)" \
	refused_because "$NEW" "unknown kid"
kill -CONT "$DPID"
check "rotation: pam-jwtd's refetch brings both keys into the cache" refetched "$BOTH"
logs_in_pam "rotation: pamtester: the token signed with $KID2 logs in" "$NEW"
logs_in_pam "rotation: pamtester: the token signed with $KID1 still logs in (still published)" "$VALID"

plugin_json plugin3.json "$KID2" "$KID2"
check "rotation: $KID1 dropped at the provider; it publishes only $KID2" eval '
	api PUT mod/plugin/oidc "$G/plugin3.json" && api PUT mod/plugin/oidc/reset &&
	[ "$(published)" = "$KID2" ]'
check "rotation: pam-jwtd's refetch drops $KID1 from the cache" refetched "$KID2"
refused_pam "rotation: pamtester: the token signed with the dropped $KID1 is refused" "$VALID"
check "rotation: pam-jwtctl verify refuses it: unknown kid" refused_because "$VALID" "unknown kid"
logs_in_pam "rotation: pamtester: the token signed with $KID2 still logs in" "$NEW"
if [ -n "$SSHD_PID" ] && [ -s "$NEW" ]; then
	rc=0
	ssh_token "$NEW" || rc=$?
	if [ "$rc" = 0 ] && [ "$(cat "$PJ_TMP/ssh.out")" = "$U" ]; then
		ok "rotation: sshd: the token signed with $KID2 logs in"
	else not_ok "rotation: sshd: the token signed with $KID2 logs in (exit $rc)"; fi
	rc=0
	ssh_token "$VALID" || rc=$?
	if [ "$rc" = 255 ] && [ ! -s "$PJ_TMP/ssh.out" ]; then
		ok "rotation: sshd: the token signed with the dropped $KID1 is refused"
	else not_ok "rotation: sshd: the token signed with the dropped $KID1 is refused (exit $rc)"; fi
fi
check "pam-jwtd is still running" kill -0 "$DPID"
check "pam-jwtd logged no failed fetch" eval '! grep -q "JWKS fetch failed" "$DLOG"'
check "glewlwyd is still running" kill -0 "$GPID"

done_testing
