#!/bin/bash
# Interoperability with PyJWT (needs no root).
#
# For every algorithm the project supports, a key pair from `pam-jwtctl keygen`:
# - tokens minted by PyJWT with the private key are accepted by `pam-jwtctl verify`
#   (the same core as pam_jwt.so), and PyJWT tokens signed by a different key under the
#   same kid are refused;
# - a JWS with a non-JSON payload made by PyJWT passes `verify --jws-only` with the JWKS;
# - tokens minted by `pam-jwtctl issue` are verified by PyJWT with the published JWKS
#   (jwt.PyJWK), with the right alg, kid, issuer and audience.
# /usr/bin/python3 is used: it has the jwt and cryptography modules.
set -u
source "$(dirname "$0")/../lib.sh"

CTL=$BUILD_DIR/pam-jwtctl
if [ ! -x "$CTL" ]; then
	not_ok "pam-jwtctl is built ($CTL)"
	done_testing
	exit
fi
if ! "$PYTHON" -c 'import jwt, cryptography' 2>/dev/null; then
	not_ok "$PYTHON has the jwt and cryptography modules (python3-jwt, python3-cryptography)"
	done_testing
	exit
fi
echo "# PyJWT $("$PYTHON" -c 'import jwt; print(jwt.__version__)')"

umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/pamjwt-interop.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT
ALGS=(HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)
ME=$(id -un)
ISS=https://idp.interop.test
AUD=pamjwt-interop
mkdir "$work/keys" "$work/other" "$work/tok"

# --- keys ---------------------------------------------------------------------------
for alg in "${ALGS[@]}"; do
	check "keygen $alg" eval '"$CTL" keygen --alg "$alg" --kid "k-$alg" --out "$work/keys" >/dev/null &&
		"$CTL" keygen --alg "$alg" --kid "k-$alg" --out "$work/other" >/dev/null'
done

# The published JWKS holds no private member of an asymmetric key, and file modes follow
# INTERFACE.md: private key 0600; JWKS 0644, or 0600 when it holds an HMAC secret.
for alg in "${ALGS[@]}"; do
	want=0644
	case $alg in HS*) want=0600 ;; esac
	kmode=$(stat -c %a "$work/keys/k-$alg.key" 2>/dev/null)
	jmode=$(stat -c %a "$work/keys/k-$alg.jwks" 2>/dev/null)
	if [ "$kmode" = 600 ] && [ "0$jmode" = "$want" ]; then
		ok "$alg: key file 0600, JWKS $want"
	else not_ok "$alg: key file $kmode (want 600), JWKS $jmode (want ${want#0})"; fi
done
check "no asymmetric JWKS contains a private key member" "$PYTHON" - "$work/keys" "${ALGS[@]}" <<'EOF'
import json, sys
bad = []
for alg in sys.argv[2:]:
    if alg.startswith("HS"):
        continue
    for k in json.load(open("%s/k-%s.jwks" % (sys.argv[1], alg)))["keys"]:
        leaked = set(k) & {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
        if leaked:
            bad.append("%s: %s" % (alg, sorted(leaked)))
if bad:
    print("# " + "; ".join(bad))
sys.exit(1 if bad else 0)
EOF

# One config that trusts every key of the run.
"$PYTHON" - "$work/all.jwks" "$work/keys" "${ALGS[@]}" <<'EOF'
import json, os, sys
keys = []
for alg in sys.argv[3:]:
    keys += json.load(open("%s/k-%s.jwks" % (sys.argv[2], alg)))["keys"]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps({"keys": keys}).encode())
os.close(fd)
EOF
CONF=$work/pam_jwt.conf
mkdir -m 0700 "$work/store"
printf 'issuer = %s\naudience = %s\njwks = %s\nstore_dir = %s\nallow_non_tmpfs = yes\n' \
	"$ISS" "$AUD" "$work/all.jwks" "$work/store" >"$CONF"
chmod 0600 "$CONF"

# --- PyJWT mints, pam-jwtctl verifies -------------------------------------------------
# For each alg: TOK/ALG.good (our key), ALG.foreign (another key, same kid), ALG.jws (a
# non-JSON payload, for --jws-only).
"$PYTHON" - "$work" "$ME" "$ISS" "$AUD" "${ALGS[@]}" <<'EOF'
import json, os, sys, time, uuid
import jwt
from jwt.api_jws import PyJWS

work, user, iss, aud = sys.argv[1:5]


def signing_key(directory, alg):
    path = "%s/%s/k-%s.key" % (work, directory, alg)
    data = open(path, "rb").read()
    return jwt.PyJWK(json.loads(data), alg).key  # keygen writes private keys as JWKs


def write(name, token):
    with open("%s/tok/%s" % (work, name), "w") as f:
        f.write(token + "\n")


now = int(time.time())
for alg in sys.argv[5:]:
    kid = "k-" + alg
    claims = {"sub": user, "iss": iss, "aud": aud, "iat": now, "exp": now + 600,
              "jti": uuid.uuid4().hex}
    write(alg + ".good", jwt.encode(claims, signing_key("keys", alg), alg, {"kid": kid}))
    write(alg + ".foreign", jwt.encode(claims, signing_key("other", alg), alg, {"kid": kid}))
    write(alg + ".jws", PyJWS().encode(b"not JSON: interop payload \x00\xff", signing_key("keys", alg),
                                       alg, {"kid": kid}))
EOF
for alg in "${ALGS[@]}"; do
	out=$("$CTL" verify -c "$CONF" -u "$ME" - <"$work/tok/$alg.good" 2>&1)
	rc=$?
	case $rc:$out in
	0:accepted*) ok "$alg: PyJWT token accepted by pam-jwtctl verify" ;;
	*) not_ok "$alg: PyJWT token accepted by pam-jwtctl verify (exit $rc: $out)" ;;
	esac
	out=$("$CTL" verify -c "$CONF" -u "$ME" - <"$work/tok/$alg.foreign" 2>&1)
	rc=$?
	case $rc:$out in
	1:refused*) ok "$alg: PyJWT token signed by another key under the same kid refused" ;;
	*) not_ok "$alg: PyJWT token signed by another key refused (exit $rc: $out)" ;;
	esac
	out=$("$CTL" verify --jws-only --key "$work/keys/k-$alg.jwks" - <"$work/tok/$alg.jws" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then ok "$alg: PyJWS with a non-JSON payload passes verify --jws-only"
	else not_ok "$alg: PyJWS with a non-JSON payload passes verify --jws-only (exit $rc: $out)"; fi
done

# --- pam-jwtctl mints, PyJWT verifies with the published JWKS ---------------------------
for alg in "${ALGS[@]}"; do
	"$CTL" issue --key "$work/keys/k-$alg.key" --kid "k-$alg" --alg "$alg" -u "$ME" \
		--iss "$ISS" --aud "$AUD" --ttl 10m --claim role=interop >"$work/tok/$alg.ours" 2>"$work/err" ||
		{ not_ok "$alg: pam-jwtctl issue ($(head -1 "$work/err"))"; continue; }
	if msg=$("$PYTHON" - "$work/keys/k-$alg.jwks" "$alg" "k-$alg" "$ME" "$ISS" "$AUD" \
		"$work/tok/$alg.ours" 2>&1 <<'EOF'
import sys
import jwt
jwks_path, alg, kid, user, iss, aud, token_path = sys.argv[1:8]
token = open(token_path).read().strip()
header = jwt.get_unverified_header(token)
assert header.get("alg") == alg, "header alg %r" % header.get("alg")
assert header.get("kid") == kid, "header kid %r" % header.get("kid")
keys = {k.key_id: k for k in jwt.PyJWKSet.from_json(open(jwks_path).read()).keys}
claims = jwt.decode(token, keys[kid].key, algorithms=[alg], audience=aud, issuer=iss,
                    options={"require": ["exp", "iat", "sub", "jti"]})
assert claims["sub"] == user, "sub %r" % claims["sub"]
assert claims["role"] == "interop", "role %r" % claims.get("role")
assert 590 <= claims["exp"] - claims["iat"] <= 610, "ttl %r" % (claims["exp"] - claims["iat"])
EOF
	); then
		ok "$alg: pam-jwtctl issue token verified by PyJWT with the JWKS"
	else
		not_ok "$alg: pam-jwtctl issue token verified by PyJWT with the JWKS: $(echo "$msg" | tail -1)"
	fi
done

# Without --alg and --kid, issue signs with the alg and kid keygen recorded in the key.
wrong=""
for alg in "${ALGS[@]}"; do
	t=$("$CTL" issue --key "$work/keys/k-$alg.key" -u "$ME" 2>/dev/null) || {
		wrong="$wrong $alg(error)"; continue; }
	got=$(printf '%s' "$t" | "$PYTHON" -c \
		'import jwt, sys; print(jwt.get_unverified_header(sys.stdin.read().strip())["alg"])')
	[ "$got" = "$alg" ] || wrong="$wrong $alg->$got"
done
if [ -z "$wrong" ]; then ok "issue without --alg signs with the alg keygen made the key for"
else not_ok "issue without --alg signs with the alg keygen made the key for:$wrong"; fi

# PyJWT must also notice when our token is altered (the check above can fail).
if [ -s "$work/tok/ES256.ours" ]; then
	"$PYTHON" - "$work/tok/ES256.ours" "$work/tok/ES256.bad" <<'EOF'
import sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
i = len(s) // 2
open(sys.argv[2], "w").write("%s.%s.%s%s%s\n" % (h, p, s[:i], "A" if s[i] != "A" else "B", s[i + 1:]))
EOF
	check_fails "PyJWT rejects a pam-jwtctl token with an altered signature" "$PYTHON" - \
		"$work/keys/k-ES256.jwks" "$work/tok/ES256.bad" 2>/dev/null <<'EOF'
import sys
import jwt
key = jwt.PyJWKSet.from_json(open(sys.argv[1]).read()).keys[0].key
token = open(sys.argv[2]).read().strip()
jwt.decode(token, key, algorithms=["ES256"], options={"verify_aud": False})
EOF
fi

done_testing
