#!/bin/bash
# Key sets shaped as identity providers publish them (tests/vectors/providers/: Google,
# Entra ID v1 and v2, Okta, Auth0, Keycloak, Cognito, GitHub Actions, GitLab CI, Kubernetes,
# Vault, Dex, Authelia; own keys, see generate.py there). For each: the configuration an
# administrator would write (jwks, issuer, audience) loads, with as many usable keys as
# MANIFEST.tsv says and a "notice:" on stderr for each key skipped; and a token signed by
# every signing key verifies through pam-jwtctl verify. Then the rules across sets: the
# jwks_rsa_alg pin of alg-less RSA keys, several sets in one table, a kid that two sets
# give different keys, a set with no usable key.
#
# Needs no root: the corpus is copied into a private temp dir (the file checks refuse a
# group-writable directory, as a checkout may have), with a private store.
set -u
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/common.sh"

CORPUS=$TOP/tests/vectors/providers
if [ ! -x "$PJ_CTL" ]; then
	not_ok "pam-jwtctl is built ($PJ_CTL)"
	done_testing
	exit
fi
pj_tmpdir || { not_ok "make a temp dir"; done_testing; exit; }
ME=$(id -un)
J=$PJ_TMP/jwks
mkdir -p "$J" "$PJ_TMP/keys" "$PJ_TMP/store" "$PJ_TMP/conf"
cp "$CORPUS"/*.jwks "$J"/ && chmod 0644 "$J"/*.jwks
cp "$CORPUS"/keys/*.pem "$PJ_TMP/keys"/ && chmod 0600 "$PJ_TMP/keys"/*.pem
OUT=$PJ_TMP/out
ERR=$PJ_TMP/err

# The manifest: one "set" line per provider, one "key" line per signing key.
declare -A FILE USABLE SKIPPED ISS AUD
PROVIDERS=()
KEYS=()
while IFS=$'\t' read -r type name a b c d e; do
	case $type in
	set)
		PROVIDERS+=("$name")
		FILE[$name]=$a USABLE[$name]=$b SKIPPED[$name]=$c ISS[$name]=$d AUD[$name]=$e ;;
	key) KEYS+=("$name"$'\t'"$a"$'\t'"$b"$'\t'"$c") ;;
	esac
done <"$CORPUS/MANIFEST.tsv"
check "the manifest names 13 providers" test "${#PROVIDERS[@]}" = 13

# conf NAME LINES...: a configuration file NAME.conf with the store settings and LINES
conf() {
	local f=$PJ_TMP/conf/$1.conf
	shift
	{
		printf '%s\n' "$@"
		printf 'store_dir = %s\nallow_non_tmpfs = yes\npersist_dir = none\n' "$PJ_TMP/store"
		printf 'socket_path = %s\n' "$PJ_TMP/no-daemon.sock"
	} >"$f"
	chmod 0600 "$f"
	CONF=$f
}

# mint NAME KID ALG PEM ISSUE_ARGS...: a token file; 1 if minting failed
mint() {
	local name=$1 kid=$2 alg=$3 pem=$4
	shift 4
	pj_token_file "$name" --key "$PJ_TMP/$pem" --kid "$kid" --alg "$alg" -u "$ME" "$@"
}

# verify_is DESC WANT_RC STDOUT_ERE TOKENFILE [STDERR_ERE]: pam-jwtctl verify -c $CONF
verify_is() {
	local d=$1 want=$2 pat=$3 tok=$4 epat=${5:-} rc=0
	pj_have_token "$d" "$tok" || return
	"$PJ_CTL" verify -c "$CONF" -u "$ME" - <"$tok" >"$OUT" 2>"$ERR" || rc=$?
	if [ "$rc" = "$want" ] && grep -qE -- "$pat" "$OUT" &&
		{ [ -z "$epat" ] || grep -qE -- "$epat" "$ERR"; }; then
		ok "$d"
	else
		not_ok "$d (exit $rc, want $want, /$pat/${epat:+ and stderr /$epat/})"
		cat "$OUT" "$ERR" | head -8 | sed 's/^/#   /'
	fi
}

# keys_in FILE: the number of JWKs in a JWKS file
keys_in() { "$PJ_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$1"; }

# --- each provider on its own, configured as its documentation says ---------------------
for p in "${PROVIDERS[@]}"; do
	conf "$p" "jwks = $J/${FILE[$p]}" "issuer = ${ISS[$p]}" "audience = ${AUD[$p]}"
	verified=0 first=
	for k in "${KEYS[@]}"; do
		IFS=$'\t' read -r name kid alg pem <<<"$k"
		[ "$name" = "$p" ] || continue
		if mint "$p-$verified" "$kid" "$alg" "$pem" --iss "${ISS[$p]}" --aud "${AUD[$p]}"; then
			first=${first:-$PJ_TOKEN}
		fi
		verify_is "$p: a token signed by key $kid ($alg) verifies" 0 '^accepted' \
			"$PJ_TMP/tok/$p-$verified"
		verified=$((verified + 1))
	done
	check "$p: $verified signing key(s) in the manifest, as many as usable (${USABLE[$p]})" \
		test "$verified" = "${USABLE[$p]}"
	check "$p: the file holds the usable and the skipped keys, nothing else" \
		test "$(keys_in "$J/${FILE[$p]}")" = $((USABLE[$p] + SKIPPED[$p]))
	# what loading noted: exactly one "skipped" notice per key that is not usable
	if [ -n "$first" ]; then
		"$PJ_CTL" verify -c "$CONF" -u "$ME" - <"$first" >"$OUT" 2>"$ERR"
		n=$(grep -c '^notice: .* skipped: ' "$ERR")
		check "$p: ${SKIPPED[$p]} key(s) skipped with a notice on stderr (saw $n)" \
			test "$n" = "${SKIPPED[$p]}"
		check "$p: nothing else is noted" test "$(grep -vc '^notice: .* skipped: ' "$ERR")" = 0
	else
		not_ok "$p: no token to load the keys with"
	fi
done

# --- Keycloak: the encryption key beside the signing key --------------------------------
conf keycloak "jwks = $J/keycloak.jwks" "issuer = ${ISS[keycloak]}" \
	"audience = ${AUD[keycloak]}"
enc_kid=$("$PJ_PY" -c 'import json,sys; print([k["kid"] for k in json.load(open(sys.argv[1]))["keys"] if k.get("use") == "enc"][0])' "$J/keycloak.jwks")
IFS=$'\t' read -r _ kc_kid kc_alg kc_pem <<<"$(printf '%s\n' "${KEYS[@]}" | grep -P '^keycloak\t')"
mint kc-enc "$enc_kid" RS256 "$kc_pem" --iss "${ISS[keycloak]}" --aud "${AUD[keycloak]}"
verify_is "keycloak: the notice names the file, index, kid of the RSA-OAEP key and why" 1 \
	'unknown kid' "$PJ_TMP/tok/kc-enc" \
	"^notice: $J/keycloak.jwks: keys\[0\] \(kid $enc_kid\) skipped: use is not sig \(enc\)\$"
verify_is "keycloak: a token naming the skipped encryption key's kid is refused (exit 1)" 1 \
	'^refused: unknown kid' "$PJ_TMP/tok/kc-enc"

# --- Entra ID: RSA keys without alg are pinned by the administrator ---------------------
IFS=$'\t' read -r _ en_kid _ en_pem <<<"$(printf '%s\n' "${KEYS[@]}" | grep -P '^entra-v2\t' | head -1)"
en_args=(--iss "${ISS[entra-v2]}" --aud "${AUD[entra-v2]}")
mint en-rs256 "$en_kid" RS256 "$en_pem" "${en_args[@]}"
mint en-ps256 "$en_kid" PS256 "$en_pem" "${en_args[@]}"
conf entra-pin "jwks = $J/entra-v2.jwks" "issuer = ${ISS[entra-v2]}" \
	"audience = ${AUD[entra-v2]}"
verify_is "entra-v2: jwks_rsa_alg unset (RS256): an RS256 token verifies" 0 '^accepted' \
	"$PJ_TMP/tok/en-rs256"
verify_is "entra-v2: jwks_rsa_alg unset (RS256): a PS256 token from the same key is refused" \
	1 "^refused: token alg does not match the key's alg" "$PJ_TMP/tok/en-ps256"
conf entra-ps "jwks = $J/entra-v2.jwks" "jwks_rsa_alg = PS256" "issuer = ${ISS[entra-v2]}" \
	"audience = ${AUD[entra-v2]}"
verify_is "entra-v2: jwks_rsa_alg = PS256: the PS256 token verifies" 0 '^accepted' \
	"$PJ_TMP/tok/en-ps256"
verify_is "entra-v2: jwks_rsa_alg = PS256: the RS256 token is refused" 1 \
	"^refused: token alg does not match the key's alg" "$PJ_TMP/tok/en-rs256"
conf entra-bad "jwks = $J/entra-v2.jwks" "jwks_rsa_alg = ES256"
verify_is "jwks_rsa_alg = ES256 is a configuration error (exit 2)" 2 \
	'^bad configuration: jwks_rsa_alg must be' "$PJ_TMP/tok/en-rs256"

# --- several sets in one table -----------------------------------------------------------
# Entra's v1 and v2 documents publish the same keys (same kids): one entry each. Issuers
# differ, so this table checks only the audience.
conf merged "jwks = $J/entra-v1.jwks" "jwks = $J/entra-v2.jwks" "jwks = $J/google.jwks" \
	"jwks = $J/keycloak.jwks" "jwks = $J/vault.jwks" "jwks = $J/kubernetes.jwks" \
	"audience = merged"
n=0
for p in entra-v1 entra-v2 google keycloak vault kubernetes; do
	for k in "${KEYS[@]}"; do
		IFS=$'\t' read -r name kid alg pem <<<"$k"
		[ "$name" = "$p" ] || continue
		n=$((n + 1))
		mint "merged-$n" "$kid" "$alg" "$pem" --aud merged
		verify_is "six sets in one table: $p key $kid ($alg) verifies" 0 '^accepted' \
			"$PJ_TMP/tok/merged-$n" '^notice: .*keycloak.jwks: keys\[0\] .* skipped'
	done
done

# --- a kid that two sets give different keys ---------------------------------------------
IFS=$'\t' read -r _ g_kid g_alg g_pem <<<"$(printf '%s\n' "${KEYS[@]}" | grep -P '^google\t' | head -1)"
"$PJ_PY" - "$J/okta.jwks" "$J/clash.jwks" "$g_kid" <<-'EOF'
	import json, sys
	doc = json.load(open(sys.argv[1]))
	doc["keys"][1]["kid"] = sys.argv[3]
	json.dump(doc, open(sys.argv[2], "w"))
	EOF
chmod 0644 "$J/clash.jwks"
mint clash "$g_kid" "$g_alg" "$g_pem" --aud merged
conf clash "jwks = $J/google.jwks" "jwks = $J/clash.jwks" "audience = merged"
verify_is "a kid two sets give different keys: unavailable (exit 2), naming the kid" 2 \
	"^unavailable: two different keys have the same kid \(jti=-, kid=$g_kid\)" \
	"$PJ_TMP/tok/clash" \
	"^notice: $J/clash.jwks: keys\[1\] \(kid $g_kid\) refused: a different key with this kid is in $J/google.jwks\$"
conf same "jwks = $J/google.jwks" "jwks = $J/google.jwks" "jwks = $J/okta.jwks" \
	"audience = merged"
verify_is "the same set listed twice is one set" 0 '^accepted' "$PJ_TMP/tok/clash"

# --- a set with no usable key ------------------------------------------------------------
"$PJ_PY" - "$J/keycloak.jwks" "$J/enc-only.jwks" <<-'EOF'
	import json, sys
	doc = json.load(open(sys.argv[1]))
	doc["keys"] = [k for k in doc["keys"] if k.get("use") == "enc"]
	json.dump(doc, open(sys.argv[2], "w"))
	EOF
chmod 0644 "$J/enc-only.jwks"
conf enc-only "jwks = $J/enc-only.jwks"
verify_is "a set whose only key is for encryption: unavailable (exit 2)" 2 \
	'^unavailable: key set has no key that can verify signatures' "$PJ_TMP/tok/kc-enc" \
	"^notice: $J/enc-only.jwks: not used: key set has no key that can verify signatures\$"
conf enc-only-too "jwks = $J/google.jwks" "jwks = $J/enc-only.jwks" "audience = merged"
verify_is "... and it is an error beside a good set too" 2 \
	'^unavailable: key set has no key that can verify signatures' "$PJ_TMP/tok/clash" \
	"skipped: use is not sig \(enc\)"

done_testing
