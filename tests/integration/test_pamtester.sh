#!/bin/bash
# pam_jwt.so in real PAM stacks, driven by pamtester (root).
#
# A throw-away key set (ES256, HS256, RS256), config, user and /etc/pam.d services named
# pamjwt-test-PID-*; the module is loaded by absolute path from the build tree. Tokens are
# fed on pamtester's standard input, never on a command line. Refusals must be logged with
# the same reason that `pam-jwtctl verify` gives. Everything created is removed on exit.
set -u
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ]; then
	skip "test_pamtester needs root"
	done_testing
	exit
fi
if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
if ! command -v pamtester >/dev/null; then
	not_ok "pamtester is installed (scripts/install-deps)"
	done_testing
	exit
fi

pj_tmpdir || exit 1
pj_store_dir || exit 1
K=$PJ_TMP/keys
ISS=https://idp.pamjwt.test
AUD=pamjwt-test

check "keygen ES256, HS256 and RS256 key pairs" \
	eval 'pj_keygen ES256 es1 && pj_keygen HS256 hs1 && pj_keygen RS256 rs1'
pj_merge_jwks "$K/all.jwks" "$K/es1.jwks" "$K/hs1.jwks" "$K/rs1.jwks"

CONF=$PJ_TMP/pam_jwt.conf
cat >"$CONF" <<EOF
# test configuration: every key of the run, fixed issuer and audience
issuer = $ISS
audience = $AUD
jwks = $K/all.jwks
store_dir = $PJ_STORE
EOF
chmod 0600 "$CONF"

pj_add_user -M || { not_ok "create a test user"; done_testing; exit; }
U=$PJ_USER
OTHER=$(pj_unused_user)
NOUSER=$(pj_unused_user)
pj_syslog_start || echo "# no way to read syslog here: log checks will be skipped"
echo "# user $U, log capture: $PJ_LOG_MODE"

pj_service main <<EOF
auth     required $PJ_MOD config=$CONF
account  required $PJ_MOD config=$CONF
EOF
SVC=$PJ_SERVICE

# mint NAME [issue args]: a token for $U from the ES256 key with the right iss/aud
mint() {
	local name=$1
	shift
	pj_token_file "$name" --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud "$AUD" "$@"
}

# accepts DESC SERVICE USER TOKENFILE [OPS...] (default: authenticate acct_mgmt)
accepts() {
	local d=$1 svc=$2 user=$3 tok=$4
	shift 4
	local ops=("$@") okay=1
	pj_have_token "$d" "$tok" || return
	[ ${#ops[@]} = 0 ] && ops=(authenticate acct_mgmt)
	pj_pamtester "$svc" "$user" "$tok" "${ops[@]}" || okay=0
	grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out" || okay=0
	case " ${ops[*]} " in *" acct_mgmt "*)
		grep -q 'account management done' "$PJ_TMP/pamtester.out" || okay=0 ;;
	esac
	if [ $okay = 1 ]; then ok "$d"; else
		not_ok "$d"
		sed 's/^/#   /' "$PJ_TMP/pamtester.out"
	fi
}

# refuses DESC PAM_MESSAGE SERVICE USER TOKENFILE [OPS...]: fails with that PAM message
refuses() {
	local d=$1 msg=$2 svc=$3 user=$4 tok=$5
	shift 5
	local ops=("$@") rc=0
	pj_have_token "$d" "$tok" || return
	[ ${#ops[@]} = 0 ] && ops=(authenticate acct_mgmt)
	pj_pamtester "$svc" "$user" "$tok" "${ops[@]}" || rc=$?
	if [ "$rc" != 0 ] && grep -qF "pamtester: $msg" "$PJ_TMP/pamtester.out"; then
		ok "$d"
	else
		not_ok "$d (exit $rc, want \"$msg\")"
		sed 's/^/#   /' "$PJ_TMP/pamtester.out"
	fi
}

# logged DESC SERVICE USER TOKENFILE: the module logged the refusal of this token with
# the reason pam-jwtctl verify gives for it under the same config
logged() {
	local d=$1 svc=$2 user=$3 tok=$4 reason
	if [ "$PJ_LOG_MODE" = none ]; then
		skip "$d (no syslog to read)"
		return
	fi
	reason=$(pj_verify_reason "$CONF" "$user" "$tok") || {
		not_ok "$d (pam-jwtctl verify did not refuse the token)"
		return
	}
	if pj_log_has_reason "pam_jwt($svc:auth): refused" "$reason"; then
		ok "$d: \"$reason\""
	else
		not_ok "$d: no log line with \"$reason\""
		pj_log_text | grep -F "pam_jwt(" | tail -3 | sed 's/^/#   /'
	fi
}

AUTH_ERR="Authentication failure"

# --- accepted tokens ----------------------------------------------------------------
mint valid
VALID=$PJ_TOKEN
accepts "valid ES256 token: authenticate and acct_mgmt succeed" "$SVC" "$U" "$VALID"
pj_token_file hs --key "$K/hs1.key" --kid hs1 -u "$U" --iss "$ISS" --aud "$AUD"
accepts "valid HS256 token accepted" "$SVC" "$U" "$PJ_TOKEN"
pj_token_file rs --key "$K/rs1.key" --kid rs1 -u "$U" --iss "$ISS" --aud "$AUD"
accepts "valid RS256 token accepted" "$SVC" "$U" "$PJ_TOKEN"
accepts "setcred succeeds after the module authenticated the handle" \
	"$SVC" "$U" "$VALID" authenticate setcred
if grep -q 'credential info has successfully been set' "$PJ_TMP/pamtester.out"; then
	ok "setcred reported success"
else not_ok "setcred reported success"; fi

# --- refused tokens, each with its reason in the log --------------------------------
pj_tamper_sig "$VALID" "$PJ_TMP/tok/tampered"
refuses "tampered signature refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TMP/tok/tampered"
logged "tampered signature: reason logged" "$SVC" "$U" "$PJ_TMP/tok/tampered"

mint expired --now "$(($(date +%s) - 7200))" --ttl 15m
EXPIRED=$PJ_TOKEN
refuses "expired token refused" "$AUTH_ERR" "$SVC" "$U" "$EXPIRED"
logged "expired token: reason logged" "$SVC" "$U" "$EXPIRED"

mint future --now "$(($(date +%s) + 3600))"
refuses "token issued in the future (iat beyond leeway) refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"

pj_token_file other --key "$K/es1.key" --kid es1 -u "$OTHER" --iss "$ISS" --aud "$AUD"
refuses "another user's token refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
logged "another user's token: reason logged" "$SVC" "$U" "$PJ_TOKEN"

pj_token_file aud --key "$K/es1.key" --kid es1 -u "$U" --iss "$ISS" --aud other-service
refuses "wrong aud refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
logged "wrong aud: reason logged" "$SVC" "$U" "$PJ_TOKEN"

pj_token_file iss --key "$K/es1.key" --kid es1 -u "$U" --iss https://evil.test --aud "$AUD"
refuses "wrong iss refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
logged "wrong iss: reason logged" "$SVC" "$U" "$PJ_TOKEN"

mint noexp --drop-claim exp
refuses "token without exp refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"

# --- algorithm pinned by the key ----------------------------------------------------
# pam-jwtctl issue only signs with the key its --kid names, so these tokens are made here:
# resign KEYFILE KID NAME signs the claims of the valid token with the private JWK in
# KEYFILE (and its alg) under a header naming KID; sets PJ_TOKEN.
resign() {
	PJ_TOKEN=$PJ_TMP/tok/$3
	"$PJ_PY" - "$1" "$2" "$VALID" "$PJ_TOKEN" <<-'EOF' || rm -f -- "$PJ_TOKEN"
	import json, sys
	import jwt
	jwk = json.load(open(sys.argv[1]))
	payload = jwt.utils.base64url_decode(open(sys.argv[3]).read().strip().split(".")[1])
	tok = jwt.api_jws.PyJWS().encode(payload, jwt.PyJWK(jwk).key, algorithm=jwk["alg"],
	                                 headers={"kid": sys.argv[2], "typ": "JWT"})
	open(sys.argv[4], "w").write(tok + "\n")
	EOF
}
resign "$K/es1.key" es1 es_resigned
accepts "control: the same claims re-signed with the ES256 key under its own kid are accepted" \
	"$SVC" "$U" "$PJ_TOKEN"
resign "$K/es1.key" rs1 es_as_rs
refuses "ES256 token naming the RS256 key's kid refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
logged "alg/key mismatch: reason logged" "$SVC" "$U" "$PJ_TOKEN"

resign "$K/hs1.key" es1 hs_as_es
refuses "HS256 token naming the ES256 key's kid refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
logged "HS256 token for the ES256 key: reason logged" "$SVC" "$U" "$PJ_TOKEN"

# The classic confusion: an HS256 token whose HMAC secret is the RSA public key (PEM),
# naming the RSA key. And an unsigned (alg none) token for an existing kid.
"$PJ_PY" - "$K/rs1.key" "$VALID" "$PJ_TMP/tok/confused" "$PJ_TMP/tok/none" <<'EOF'
import base64, hashlib, hmac, json, sys
import jwt
from cryptography.hazmat.primitives import serialization
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
priv = jwt.PyJWK(json.load(open(sys.argv[1]))).key  # keygen writes private JWKs
pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
_, payload, sig = open(sys.argv[2]).read().strip().split(".")
head = b64(json.dumps({"alg": "HS256", "kid": "rs1", "typ": "JWT"}).encode())
mac = hmac.new(pem, (head + "." + payload).encode(), hashlib.sha256).digest()
open(sys.argv[3], "w").write(head + "." + payload + "." + b64(mac) + "\n")
head = b64(json.dumps({"alg": "none", "kid": "es1", "typ": "JWT"}).encode())
open(sys.argv[4], "w").write(head + "." + payload + "." + sig + "\n")
EOF
refuses "HS256 token keyed with the RS256 public key (alg confusion) refused" \
	"$AUTH_ERR" "$SVC" "$U" "$PJ_TMP/tok/confused"
logged "alg confusion: reason logged" "$SVC" "$U" "$PJ_TMP/tok/confused"
refuses "alg none token refused" "$AUTH_ERR" "$SVC" "$U" "$PJ_TMP/tok/none"

# --- users --------------------------------------------------------------------------
pj_token_file nouser --key "$K/es1.key" --kid es1 -u "$NOUSER" --iss "$ISS" --aud "$AUD"
refuses "user not in passwd: PAM_USER_UNKNOWN" \
	"User not known to the underlying authentication module" "$SVC" "$NOUSER" "$PJ_TOKEN"

# --- require_claim (as a module argument over the file) -----------------------------
pj_service reqclaim <<EOF
auth     required $PJ_MOD config=$CONF require_claim=role:admin
account  required $PJ_MOD config=$CONF require_claim=role:admin
EOF
SVC_REQ=$PJ_SERVICE
mint role_admin --claim role=admin
accepts "require_claim=role:admin met: accepted" "$SVC_REQ" "$U" "$PJ_TOKEN"
mint role_user --claim role=user
refuses "require_claim=role:admin with role=user: refused" "$AUTH_ERR" "$SVC_REQ" "$U" "$PJ_TOKEN"
refuses "require_claim=role:admin without the claim: refused" "$AUTH_ERR" "$SVC_REQ" "$U" "$VALID"
accepts "the same token without require_claim is accepted" "$SVC" "$U" "$PJ_TOKEN"

# --- a PEM key given with key=ALG:KID:PATH instead of a JWKS ------------------------
"$PJ_PY" - "$K/es1.key" "$K/es1.pub.pem" <<'EOF'
import json, sys
import jwt
from cryptography.hazmat.primitives import serialization as s
key = jwt.PyJWK(json.load(open(sys.argv[1]))).key
open(sys.argv[2], "wb").write(key.public_key().public_bytes(
    s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
EOF
CONF_PEM=$PJ_TMP/pam_jwt_pem.conf
printf 'issuer = %s\naudience = %s\nkey = ES256:es1:%s\nstore_dir = %s\n' \
	"$ISS" "$AUD" "$K/es1.pub.pem" "$PJ_STORE" >"$CONF_PEM"
chmod 0600 "$CONF_PEM"
pj_service pem <<EOF
auth     required $PJ_MOD config=$CONF_PEM
account  required $PJ_MOD config=$CONF_PEM
EOF
accepts "key=ES256:es1:PEM config: ES256 token accepted" "$PJ_SERVICE" "$U" "$VALID"
refuses "key=ES256:es1:PEM config: HS256 token (kid not configured) refused" \
	"$AUTH_ERR" "$PJ_SERVICE" "$U" "$PJ_TMP/tok/hs"

# --- configuration errors ------------------------------------------------------------
pj_service badopt <<EOF
auth     required $PJ_MOD config=$CONF no_such_option=1
account  required $PJ_MOD config=$CONF
EOF
refuses "unknown module option: PAM_SERVICE_ERR" "Error in service module" \
	"$PJ_SERVICE" "$U" "$VALID"
pj_service badval <<EOF
auth     required $PJ_MOD config=$CONF leeway=soon
account  required $PJ_MOD config=$CONF
EOF
refuses "bad duration value: PAM_SERVICE_ERR" "Error in service module" \
	"$PJ_SERVICE" "$U" "$VALID"
pj_service bigleeway <<EOF
auth     required $PJ_MOD config=$CONF leeway=11m
account  required $PJ_MOD config=$CONF
EOF
refuses "leeway over 10m (11m): PAM_SERVICE_ERR" "Error in service module" \
	"$PJ_SERVICE" "$U" "$VALID"
pj_service maxleeway <<EOF
auth     required $PJ_MOD config=$CONF leeway=10m
account  required $PJ_MOD config=$CONF leeway=10m
EOF
accepts "leeway=10m (the maximum) is a valid setting" "$PJ_SERVICE" "$U" "$VALID"
pj_service noconf <<EOF
auth     required $PJ_MOD config=$PJ_TMP/does-not-exist.conf
account  required $PJ_MOD config=$PJ_TMP/does-not-exist.conf
EOF
refuses "missing config file: PAM_AUTHINFO_UNAVAIL" \
	"Authentication service cannot retrieve authentication info" "$PJ_SERVICE" "$U" "$VALID"
cp "$CONF" "$PJ_TMP/writable.conf"
chmod 0666 "$PJ_TMP/writable.conf"
pj_service writable <<EOF
auth     required $PJ_MOD config=$PJ_TMP/writable.conf
account  required $PJ_MOD config=$PJ_TMP/writable.conf
EOF
refuses "world-writable config file: PAM_AUTHINFO_UNAVAIL" \
	"Authentication service cannot retrieve authentication info" "$PJ_SERVICE" "$U" "$VALID"

# --- account phase ------------------------------------------------------------------
# The account line may be stricter than the auth line: a token that expired 5 minutes
# ago passes auth with 10m of leeway (the most the module allows), and acct_mgmt
# re-checks exp with none.
pj_service acctstrict <<EOF
auth     required $PJ_MOD config=$CONF leeway=10m
account  required $PJ_MOD config=$CONF leeway=0
EOF
mint stale --now "$(($(date +%s) - 900))" --ttl 10m
accepts "expired token within auth leeway=10m authenticates" "$PJ_SERVICE" "$U" "$PJ_TOKEN" \
	authenticate
rc=0
pj_pamtester "$PJ_SERVICE" "$U" "$PJ_TOKEN" authenticate acct_mgmt || rc=$?
if [ "$rc" != 0 ] && grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out" &&
	! grep -q 'account management done' "$PJ_TMP/pamtester.out"; then
	ok "acct_mgmt re-checks exp with the account line's leeway=0: refused"
else
	not_ok "acct_mgmt re-checks exp with the account line's leeway=0: refused (exit $rc)"
	sed 's/^/#   /' "$PJ_TMP/pamtester.out"
fi
if [ "$PJ_LOG_MODE" = none ]; then skip "account refusal logged (no syslog to read)"; else
	check "account refusal logged as pam_jwt(SERVICE:account) with the reason" \
		pj_log_has "pam_jwt($PJ_SERVICE:account): refused" "expired" "jti=$(pj_jti "$PJ_TOKEN")"
fi

# For a login the module did not authenticate, acct_mgmt returns PAM_IGNORE: an account
# stack of only pam_jwt then fails (libpam turns an all-ignore stack into a failure), and
# passes once a module that decides follows it.
echo "not a token" >"$PJ_TMP/tok/nothing"
pj_service acctonly <<EOF
auth     required pam_permit.so
account  required $PJ_MOD config=$CONF
EOF
rc=0
pj_pamtester "$PJ_SERVICE" "$U" "$PJ_TMP/tok/nothing" authenticate acct_mgmt || rc=$?
if [ "$rc" != 0 ] && grep -q 'successfully authenticated' "$PJ_TMP/pamtester.out" &&
	! grep -q 'account management done' "$PJ_TMP/pamtester.out"; then
	ok "acct_mgmt without our auth is PAM_IGNORE: an account stack of only pam_jwt fails"
else
	not_ok "acct_mgmt without our auth is PAM_IGNORE: an account stack of only pam_jwt fails"
	sed 's/^/#   /' "$PJ_TMP/pamtester.out"
fi
pj_service acctpermit <<EOF
auth     required pam_permit.so
account  required $PJ_MOD config=$CONF
account  required pam_permit.so
EOF
accepts "acct_mgmt without our auth is PAM_IGNORE: pam_permit after it decides" \
	"$PJ_SERVICE" "$U" "$PJ_TMP/tok/nothing"

# --- ignore_non_jwt -----------------------------------------------------------------
echo "correct horse battery staple" >"$PJ_TMP/tok/password"
pj_service ign_deny <<EOF
auth     sufficient $PJ_MOD config=$CONF ignore_non_jwt
auth     required   pam_deny.so
account  required   $PJ_MOD config=$CONF
account  required   pam_permit.so
EOF
accepts "sufficient+ignore_non_jwt before pam_deny: a valid token logs in" \
	"$PJ_SERVICE" "$U" "$VALID"
refuses "sufficient+ignore_non_jwt before pam_deny: a password falls through to pam_deny" \
	"$AUTH_ERR" "$PJ_SERVICE" "$U" "$PJ_TMP/tok/password"
pj_service ign_permit <<EOF
auth     sufficient $PJ_MOD config=$CONF ignore_non_jwt
auth     required   pam_permit.so
account  required   $PJ_MOD config=$CONF
account  required   pam_permit.so
EOF
accepts "sufficient+ignore_non_jwt before pam_permit: a password falls through to pam_permit" \
	"$PJ_SERVICE" "$U" "$PJ_TMP/tok/password"
# With ignore=ignore default=die the return code itself shows: PAM_IGNORE for a password,
# a refusal (not PAM_IGNORE) for a token that looks like a JWT but fails.
pj_service ign_strict <<EOF
auth     [success=done ignore=ignore default=die] $PJ_MOD config=$CONF ignore_non_jwt
auth     required   pam_permit.so
EOF
accepts "ignore_non_jwt: a password gives PAM_IGNORE" "$PJ_SERVICE" "$U" "$PJ_TMP/tok/password" \
	authenticate
refuses "ignore_non_jwt: a bad JWT is still refused, not ignored" "$AUTH_ERR" \
	"$PJ_SERVICE" "$U" "$PJ_TMP/tok/tampered" authenticate
pj_service noign_strict <<EOF
auth     [success=done ignore=ignore default=die] $PJ_MOD config=$CONF
auth     required   pam_permit.so
EOF
refuses "without ignore_non_jwt a password is refused" "$AUTH_ERR" \
	"$PJ_SERVICE" "$U" "$PJ_TMP/tok/password" authenticate
if [ "$PJ_LOG_MODE" = none ]; then
	skip "ignored password is not logged as a refused token (no syslog to read)"
else
	pj_log_mark
	pj_pamtester "pamjwt-test-$$-ign_strict" "$U" "$PJ_TMP/tok/password" authenticate
	if pj_log_new | grep -q 'pam_jwt('; then
		not_ok "a password ignored by ignore_non_jwt is not logged as a refusal"
		pj_log_new | grep 'pam_jwt(' | sed 's/^/#   /'
	else ok "a password ignored by ignore_non_jwt is not logged as a refusal"; fi
fi

# --- token size ---------------------------------------------------------------------
# pamtester answers through libpam_misc's misc_conv, which reads at most 4095 bytes
# (PAM_MISC_CONV_BUFSIZE - 1) per answer: a longer token reaches the module cut short.
# helpers/pam_drive.py answers with the whole token through the same libpam and stack.
DRIVE=$PJ_HELPERS/pam_drive.py
T8K=""
ESK="$K/es1.key:es1"
HSK="$K/hs1.key:hs1"
if pj_token_of_length t4095 4095 "$ESK" "$HSK" -- -u "$U" --iss "$ISS" --aud "$AUD"; then
	accepts "4095-byte token (pamtester's longest answer) accepted" "$SVC" "$U" "$PJ_TOKEN"
else not_ok "make a 4095-byte token"; fi
if pj_token_of_length t4096 4096 "$ESK" "$HSK" -- -u "$U" --iss "$ISS" --aud "$AUD"; then
	refuses "4096-byte token through pamtester: cut to 4095 bytes by misc_conv, refused" \
		"$AUTH_ERR" "$SVC" "$U" "$PJ_TOKEN"
else not_ok "make a 4096-byte token"; fi
if pj_token_of_length t8k 8192 "$ESK" "$HSK" -- -u "$U" --iss "$ISS" --aud "$AUD"; then
	T8K=$PJ_TOKEN
	refuses "8 KiB token through pamtester: cut to 4095 bytes by misc_conv, refused" \
		"$AUTH_ERR" "$SVC" "$U" "$T8K"
	check_rc "8 KiB token through libpam with a full-length conversation: accepted" 0 \
		"$PJ_PY" "$DRIVE" "$SVC" "$U" "$T8K" authenticate acct_mgmt
else not_ok "make an 8 KiB token"; fi
if pj_token_of_length t16k 16384 "$ESK" "$HSK" -- -u "$U" --iss "$ISS" --aud "$AUD"; then
	check_rc "16384-byte token (max_token_size default) accepted" 0 \
		"$PJ_PY" "$DRIVE" "$SVC" "$U" "$PJ_TOKEN" authenticate acct_mgmt
else not_ok "make a 16384-byte token"; fi
if pj_token_of_length t16k1 16385 "$ESK" "$HSK" -- -u "$U" --iss "$ISS" --aud "$AUD"; then
	check_rc "16385-byte token (over max_token_size) refused: PAM_AUTH_ERR" 7 \
		"$PJ_PY" "$DRIVE" "$SVC" "$U" "$PJ_TOKEN" authenticate
	logged "oversized token: reason logged" "$SVC" "$U" "$PJ_TOKEN"
else not_ok "make a 16385-byte token"; fi
pj_service small <<EOF
auth     required $PJ_MOD config=$CONF max_token_size=1024
account  required $PJ_MOD config=$CONF
EOF
if [ -n "$T8K" ]; then
	check_rc "max_token_size=1024 refuses the 8 KiB token" 7 \
		"$PJ_PY" "$DRIVE" "$PJ_SERVICE" "$U" "$T8K" authenticate
fi

# --- nothing secret in the log ------------------------------------------------------
if [ "$PJ_LOG_MODE" = none ]; then
	skip "no token appears in the log (no syslog to read)"
else
	leaked=""
	pj_log_sync
	for t in "$PJ_TMP"/tok/*; do
		s=$(pj_sig "$t")
		[ ${#s} -ge 16 ] || continue
		pj_log_text | grep -qF -- "$s" && leaked="$leaked $(basename "$t")"
	done
	if [ -z "$leaked" ]; then ok "no token signature appears in the log"
	else not_ok "token signatures in the log:$leaked"; fi
fi

done_testing
