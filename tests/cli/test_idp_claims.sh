#!/bin/bash
# Tokens shaped like real identity providers' and workload identities', minted by PyJWT
# (an independent implementation) and checked through `pam-jwtctl verify -c CONF -u USER`
# (the core pam_jwt.so uses) with the configuration an administrator would write:
# Google (email + user_domain), Entra ID v2 (preferred_username/upn + user_domain +
# user_case), Keycloak (realm_access.roles by JSON Pointer), Cognito (cognito:groups,
# username), Auth0 (URL-named claims), GitHub Actions and GitLab CI (sub -> account through
# user_map), Kubernetes (nested service-account name). Each accepts the right user and
# refuses lookalikes; config and map errors name what is wrong. Needs no root.
set -u
source "$(dirname "$0")/../lib.sh"
source "$TOP/tests/integration/common.sh"

if ! pj_have_build; then
	not_ok "the module and pam-jwtctl are built ($PJ_MOD, $PJ_CTL)"
	done_testing
	exit
fi
if ! "$PYTHON" -c 'import jwt, cryptography' 2>/dev/null; then
	not_ok "$PYTHON has the jwt and cryptography modules (python3-jwt, python3-cryptography)"
	done_testing
	exit
fi
pj_tmpdir || { not_ok "make a temp dir"; done_testing; exit; }
pj_keygen ES256 idp || { not_ok "keygen"; done_testing; exit; }
K=$PJ_TMP/keys
T=$PJ_TMP/tok
mkdir -p "$T"
mkdir -m 0700 "$PJ_TMP/store"
OUT=$PJ_TMP/out

# conf NAME LINES...: $PJ_TMP/NAME.conf with the keys, the store and these lines
conf() {
	local f=$PJ_TMP/$1.conf
	shift
	{
		printf 'jwks = %s\nstore_dir = %s\nallow_non_tmpfs = yes\n' "$K/idp.jwks" "$PJ_TMP/store"
		printf '%s\n' "$@"
	} >"$f"
	chmod 0600 "$f"
	CONF=$f
}

# verify_is DESC WANT_RC PATTERN TOKEN USER: `verify -c $CONF -u USER` exits WANT_RC and
# prints a line matching the ERE
verify_is() {
	local d=$1 want=$2 pat=$3 tok=$T/$4 user=$5 rc=0
	pj_have_token "$d" "$tok" || return
	"$PJ_CTL" verify -c "$CONF" -u "$user" - <"$tok" >"$OUT" 2>&1 || rc=$?
	if [ "$rc" = "$want" ] && grep -qE -- "$pat" "$OUT"; then ok "$d"; else
		not_ok "$d (exit $rc, want $want and /$pat/)"
		head -3 "$OUT" | sed 's/^/#   /'
	fi
}
accepts() { verify_is "$1" 0 '^accepted' "$2" "$3"; }
refuses() { verify_is "$1" 1 "^refused: $4" "$2" "$3"; }

# --- the tokens ---------------------------------------------------------------------------
# mint NAME JSON: a token with these claims (exp, iat added), ES256, kid idp
"$PYTHON" - "$K/idp.key" "$T" <<'EOF' || not_ok "PyJWT mints the provider tokens"
import json, sys, time
import jwt

key = jwt.PyJWK(json.load(open(sys.argv[1])), "ES256").key
out = sys.argv[2]
now = int(time.time())


def mint(name, claims):
    body = {"iat": now, "exp": now + 600}
    body.update(claims)
    with open("%s/%s" % (out, name), "w") as f:
        f.write(jwt.encode(body, key, "ES256", {"kid": "idp", "typ": "JWT"}) + "\n")


GOOGLE = {"iss": "https://accounts.google.com", "aud": "1234-client.apps.example",
          "sub": "110169484474386276334", "email_verified": True, "hd": "example.com"}
for name, email, hd in [("google", "alice@example.com", "example.com"),
                        ("google-case", "alice@EXAMPLE.COM", "example.com"),
                        ("google-upper", "ALICE@example.com", "example.com"),
                        ("google-evil", "alice@evil.example", "evil.example"),
                        ("google-suffix", "alice@example.com.evil.example", "example.com"),
                        ("google-sub", "alice@mail.example.com", "example.com"),
                        ("google-two-at", "alice@EXAMPLE.com@evil", "example.com"),
                        ("google-empty", "@example.com", "example.com"),
                        ("google-bare", "alice", "example.com"),
                        ("google-cyrillic", "\u0430lice@example.com", "example.com"),
                        ("google-newline", "alice\n@example.com", "example.com"),
                        ("google-otherhd", "alice@example.com", "other.example")]:
    mint(name, dict(GOOGLE, email=email, hd=hd))

TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA = {"iss": "https://login.microsoftonline.com/%s/v2.0" % TID,
         "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "tid": TID, "ver": "2.0",
         "oid": "00000000-0000-0000-66f3-3332eca7ea81", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
         "name": "Alice Smith"}
for name, pun in [("entra", "Alice.Smith@Contoso.example"),
                  ("entra-lower", "alice.smith@contoso.example"),
                  ("entra-guest", "alice.smith_fabrikam.example#EXT#@contoso.example"),
                  ("entra-evil", "Alice.Smith@contoso.example.evil.example"),
                  ("entra-lookalike", "Alice.Sm\u0456th@contoso.example")]:
    mint(name, dict(ENTRA, preferred_username=pun))
mint("entra-v1-upn", dict(ENTRA, upn="ALICE.SMITH@contoso.example", ver="1.0"))
mint("entra-other-tenant", dict(ENTRA, tid="ffffffff-0000-0000-0000-000000000000",
                                preferred_username="alice.smith@contoso.example"))

KC = {"iss": "https://kc.example/realms/corp", "aud": "pam", "azp": "pam", "typ": "Bearer",
      "sub": "f1b2c3d4-0000-4000-8000-000000000001", "preferred_username": "alice",
      "resource_access": {"account": {"roles": ["manage-account"]}}}
mint("keycloak", dict(KC, realm_access={"roles": ["offline_access", "admin"]}))
mint("keycloak-noadmin", dict(KC, realm_access={"roles": ["offline_access", "user"]}))
mint("keycloak-flat", dict(KC, **{"realm_access.roles": ["admin"],
                                  "realm_access": {"roles": ["user"]}}))
mint("keycloak-client-role", dict(KC, realm_access={"roles": ["user"]},
                                  resource_access={"pam": {"roles": ["admin"]}}))

COG = {"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
       "client_id": "3n4b5urk1ft4fl3mg5e62d9ado", "token_use": "access",
       "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "username": "alice",
       "scope": "openid"}
mint("cognito", dict(COG, **{"cognito:groups": ["ops", "dev"]}))
mint("cognito-dev", dict(COG, **{"cognito:groups": ["dev"]}))
mint("cognito-split", dict(COG, cognito={"groups": ["ops"]}))
mint("cognito-id-token", dict(COG, token_use="id", **{"cognito:groups": ["ops"]}))

A0 = {"iss": "https://tenant.auth0.example/", "aud": "https://api.example.com",
      "sub": "auth0|64f1c0ffee", "azp": "x1", "scope": "openid"}
mint("auth0", dict(A0, **{"https://example.com/roles": ["admin", "user"],
                           "https://example.com/username": "alice"}))
mint("auth0-user", dict(A0, **{"https://example.com/roles": ["user"],
                                "https://example.com/username": "alice"}))
mint("auth0-nested", dict(A0, **{"https:": {"": {"example.com": {"roles": ["admin"]}}},
                                  "https://example.com/username": "alice"}))

GH = {"iss": "https://token.actions.githubusercontent.com", "aud": "https://github.com/org",
      "repository": "org/app", "repository_owner": "org", "environment": "prod",
      "ref": "refs/heads/main", "event_name": "push", "runner_environment": "github-hosted",
      "job_workflow_ref": "org/app/.github/workflows/deploy.yml@refs/heads/main"}
for name, sub in [("github", "repo:org/app:environment:prod"),
                  ("github-staging", "repo:org/app:environment:staging"),
                  ("github-fork", "repo:org/app-evil:environment:prod"),
                  ("github-longer", "repo:org/app:environment:prod:x"),
                  ("github-branch", "repo:org/app:ref:refs/heads/main"),
                  ("github-account", "deploy")]:
    mint(name, dict(GH, sub=sub))
mint("github-otherowner", dict(GH, sub="repo:org/app:environment:prod",
                               repository_owner="evil"))

GL = {"iss": "https://gitlab.example.com", "aud": "https://pam.example.com",
      "namespace_path": "group", "project_path": "group/app", "ref_type": "branch",
      "ref_protected": "true", "pipeline_source": "push", "user_login": "someone"}
mint("gitlab", dict(GL, ref="main", sub="project_path:group/app:ref_type:branch:ref:main"))
mint("gitlab-feature", dict(GL, ref="feature", ref_protected="false",
                            sub="project_path:group/app:ref_type:branch:ref:feature"))

K8S = {"iss": "https://kubernetes.default.svc.cluster.local", "aud": ["pam"]}


def sa(ns, name):
    return {"sub": "system:serviceaccount:%s:%s" % (ns, name),
            "kubernetes.io": {"namespace": ns,
                              "serviceaccount": {"name": name, "uid": "5b0d-4c7e"},
                              "pod": {"name": "runner-abc", "uid": "77aa"}}}


mint("k8s", dict(K8S, **sa("ci", "deployer")))
mint("k8s-other-ns", dict(K8S, **sa("dev", "deployer")))
mint("k8s-other-sa", dict(K8S, **sa("ci", "builder")))
mint("k8s-flat", dict(K8S, **{"kubernetes.io/serviceaccount/name": "deployer",
                              "kubernetes.io": {"namespace": "ci"}}))
EOF

# --- Google: email, one Workspace domain ---------------------------------------------------
conf google "issuer = https://accounts.google.com" "audience = 1234-client.apps.example" \
	"user_claim = email" "user_domain = example.com" "require_claim = hd:example.com"
accepts "google: alice@example.com logs in as alice" google alice
accepts "google: the domain ignores case (alice@EXAMPLE.COM)" google-case alice
refuses "google: alice@example.com is not bob" google bob "token is for another user"
refuses "google: ALICE@example.com is not alice (user_case exact)" google-upper alice \
	"token is for another user"
refuses "google: alice@evil.example is never alice" google-evil alice \
	"user claim's domain is not a user_domain"
refuses "google: alice@example.com.evil.example is never alice" google-suffix alice \
	"user claim's domain is not a user_domain"
refuses "google: a subdomain is not the domain" google-sub alice \
	"user claim's domain is not a user_domain"
refuses "google: alice@EXAMPLE.com@evil is refused" google-two-at alice \
	"user claim is not NAME@DOMAIN"
refuses "google: an empty name part is refused" google-empty alice \
	"user claim is not NAME@DOMAIN"
refuses "google: a bare name is refused under user_domain" google-bare alice \
	"user claim is not NAME@DOMAIN"
refuses "google: a Cyrillic lookalike is refused" google-cyrillic alice \
	"user claim holds a byte that is not printable ASCII"
refuses "google: a control character is refused" google-newline alice \
	"user claim holds a byte that is not printable ASCII"
refuses "google: another hosted domain fails require_claim" google-otherhd alice \
	"a required claim is missing or differs"
# without user_domain, today's rule: the email must be the login name itself
conf google-plain "issuer = https://accounts.google.com" "audience = 1234-client.apps.example" \
	"user_claim = email"
refuses "google without user_domain: alice@example.com is not alice" google alice \
	"token is for another user"
accepts "google without user_domain: alice@example.com is the login alice@example.com" \
	google alice@example.com

# --- Entra ID v2: preferred_username (v1: upn), case-folded ---------------------------------
TID=9188040d-6c67-4c5b-b112-36a304b66dad
conf entra "issuer = https://login.microsoftonline.com/$TID/v2.0" \
	"audience = 6e74172b-be56-4843-9ff4-e66a39bb12e3" "require_claim = tid:$TID" \
	"user_claim = preferred_username" "user_domain = contoso.example" "user_case = lower"
accepts "entra: Alice.Smith@Contoso.example logs in as alice.smith" entra alice.smith
accepts "entra: alice.smith@contoso.example logs in as alice.smith" entra-lower alice.smith
refuses "entra: the login name is not folded (Alice.Smith)" entra Alice.Smith \
	"token is for another user"
refuses "entra: a guest's #EXT# name is not the member's" entra-guest \
	alice.smith "token is for another user"
refuses "entra: a longer domain is refused" entra-evil alice.smith \
	"user claim's domain is not a user_domain"
refuses "entra: a Cyrillic i lookalike is refused" entra-lookalike alice.smith \
	"user claim holds a byte that is not printable ASCII"
refuses "entra: another tenant fails require_claim tid" entra-other-tenant alice.smith \
	"a required claim is missing or differs"
conf entra-v1 "issuer = https://login.microsoftonline.com/$TID/v2.0" \
	"audience = 6e74172b-be56-4843-9ff4-e66a39bb12e3" "user_claim = upn" \
	"user_domain = contoso.example" "user_case = lower"
accepts "entra v1: upn ALICE.SMITH@contoso.example logs in as alice.smith" entra-v1-upn \
	alice.smith
refuses "entra v1: a token without upn names nobody" entra alice.smith \
	"token has no user claim"

# --- Keycloak: a realm role under realm_access.roles --------------------------------------
conf keycloak "issuer = https://kc.example/realms/corp" "audience = pam" \
	"user_claim = preferred_username" "require_claim = /realm_access/roles=admin"
accepts "keycloak: alice with the realm role admin" keycloak alice
refuses "keycloak: the same token is not bob's" keycloak bob "token is for another user"
refuses "keycloak: without the role admin" keycloak-noadmin alice \
	"a required claim is missing or differs"
refuses "keycloak: a top-level \"realm_access.roles\" is not the nested claim" keycloak-flat \
	alice "a required claim is missing or differs"
refuses "keycloak: a client role of the same name is not the realm role" \
	keycloak-client-role alice "a required claim is missing or differs"

# --- Cognito: access token, cognito:groups, username ----------------------------------------
conf cognito "issuer = https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf" \
	"user_claim = username" "require_claim = /cognito:groups=ops" \
	"require_claim = token_use:access" "require_claim = client_id:3n4b5urk1ft4fl3mg5e62d9ado"
accepts "cognito: alice in group ops" cognito alice
refuses "cognito: alice is not root" cognito root "token is for another user"
refuses "cognito: alice in dev only" cognito-dev alice "a required claim is missing or differs"
refuses "cognito: a nested cognito.groups is not cognito:groups" cognito-split alice \
	"a required claim is missing or differs"
refuses "cognito: an id token is not an access token" cognito-id-token alice \
	"a required claim is missing or differs"

# --- Auth0: URL-named custom claims ----------------------------------------------------------
conf auth0 "issuer = https://tenant.auth0.example/" "audience = https://api.example.com" \
	"user_claim = https://example.com/username" \
	"require_claim = /https:~1~1example.com~1roles=admin"
accepts "auth0: alice with https://example.com/roles admin" auth0 alice
refuses "auth0: roles without admin" auth0-user alice "a required claim is missing or differs"
refuses "auth0: nested objects that spell the URL are not the claim" auth0-nested alice \
	"a required claim is missing or differs"

# --- GitHub Actions: one repository environment deploys as deploy ---------------------------
MAP=$PJ_TMP/user_map
cat >"$MAP" <<'EOF'
# workload identities: exact claim value, then the local account
repo:org/app:environment:prod                        deploy
project_path:group/app:ref_type:branch:ref:main      deploy
EOF
chmod 0644 "$MAP"
conf github "issuer = https://token.actions.githubusercontent.com" \
	"audience = https://github.com/org" "user_map = $MAP" "require_claim = repository_owner:org"
accepts "github: repo:org/app:environment:prod is deploy" github deploy
refuses "github: the prod environment is not root" github root "token is for another user"
refuses "github: the staging environment is not in the map" github-staging deploy \
	"user claim is not in user_map"
refuses "github: another repository with a common prefix is not in the map" github-fork \
	deploy "user claim is not in user_map"
refuses "github: a longer sub is not in the map" github-longer deploy \
	"user claim is not in user_map"
refuses "github: a branch of the same repository is not the environment" github-branch \
	deploy "user claim is not in user_map"
refuses "github: a sub that is the account's own name is not in the map" github-account \
	deploy "user claim is not in user_map"
refuses "github: require_claim still applies" github-otherowner deploy \
	"a required claim is missing or differs"
verify_no_user() { "$PJ_CTL" verify -c "$CONF" - <"$T/$1" >"$OUT" 2>&1; }
check_rc "github: verify without -u accepts a mapped token" 0 verify_no_user github

# --- GitLab CI: the protected main branch deploys as deploy --------------------------------
conf gitlab "issuer = https://gitlab.example.com" "audience = https://pam.example.com" \
	"user_map = $MAP" "require_claim = ref_protected:true" "require_claim = namespace_path:group"
accepts "gitlab: main of group/app is deploy" gitlab deploy
refuses "gitlab: main of group/app is not someone" gitlab someone "token is for another user"
refuses "gitlab: a feature branch is not in the map" gitlab-feature deploy \
	"user claim is not in user_map"
refuses "gitlab: a GitHub token of the same account is another issuer" github deploy \
	"wrong issuer"

# --- Kubernetes: the service account's name, in one namespace -------------------------------
conf k8s "issuer = https://kubernetes.default.svc.cluster.local" "audience = pam" \
	"user_claim = /kubernetes.io/serviceaccount/name" "require_claim = /kubernetes.io/namespace=ci"
accepts "kubernetes: service account ci/deployer is deployer" k8s deployer
refuses "kubernetes: ci/deployer is not builder" k8s builder "token is for another user"
refuses "kubernetes: ci/builder is not deployer" k8s-other-sa deployer \
	"token is for another user"
refuses "kubernetes: dev/deployer fails the namespace" k8s-other-ns deployer \
	"a required claim is missing or differs"
refuses "kubernetes: a flat \"kubernetes.io/serviceaccount/name\" is not the nested name" \
	k8s-flat deployer "token has no user claim"

# --- configuration and map errors ---------------------------------------------------------
# bad_conf DESC PATTERN LINES...: verify exits 2 and names the problem
bad_conf() {
	local d=$1 pat=$2 rc=0
	shift 2
	conf bad "$@"
	"$PJ_CTL" verify -c "$CONF" -u deploy - <"$T/github" >"$OUT" 2>&1 || rc=$?
	if [ "$rc" = 2 ] && grep -qE -- "$pat" "$OUT"; then ok "$d"; else
		not_ok "$d (exit $rc, want 2 and /$pat/)"
		head -3 "$OUT" | sed 's/^/#   /'
	fi
}
bad_conf "config: a malformed user_claim pointer is refused, naming the option and line" \
	'^bad configuration: user_claim has a malformed JSON Pointer .* \[.*bad\.conf line 4, option user_claim\]$' \
	"user_claim = /kubernetes.io//name"
bad_conf "config: a bad ~ escape in require_claim is refused" \
	'^bad configuration: require_claim has a malformed JSON Pointer .* \[.*bad\.conf line 5, option require_claim\]$' \
	"audience = x" "require_claim = /realm_access~2roles=admin"
bad_conf "config: require_claim /POINTER without =VALUE is refused" \
	'^bad configuration: require_claim must be /POINTER=VALUE \[.*bad\.conf line 4, option require_claim\]$' \
	"require_claim = /realm_access/roles"
bad_conf "config: user_domain must be a domain" \
	'^bad configuration: user_domain must be a domain name' "user_domain = @example.com"
bad_conf "config: user_case takes exact or lower" \
	'^bad configuration: user_case must be exact or lower \[.*bad\.conf line 4, option user_case\]$' "user_case = upper"
bad_conf "config: user_map and user_domain exclude each other" \
	'^bad configuration: user_map and user_domain exclude each other' \
	"user_map = $MAP" "user_domain = example.com"
bad_conf "config: user_map takes no user_case lower" \
	'^bad configuration: user_map takes no user_case but exact' \
	"user_map = $MAP" "user_case = lower"
# map_is DESC PATTERN: verify of the github token as deploy is unavailable (exit 2)
map_is() {
	local rc=0
	"$PJ_CTL" verify -c "$CONF" -u deploy - <"$T/github" >"$OUT" 2>&1 || rc=$?
	if [ "$rc" = 2 ] && grep -qE -- "$2" "$OUT"; then ok "$1"; else
		not_ok "$1 (exit $rc, want 2 and /$2/)"
		head -3 "$OUT" | sed 's/^/#   /'
	fi
}
BADMAP=$PJ_TMP/bad_map
conf map-errors "issuer = https://token.actions.githubusercontent.com" \
	"audience = https://github.com/org" "user_map = $BADMAP"
printf '# dup\nrepo:org/app:environment:prod deploy\nrepo:org/app:environment:prod root\n' \
	>"$BADMAP"
chmod 0644 "$BADMAP"
map_is "map: a value listed twice refuses everyone, naming line and file" \
	"^unavailable: user_map: a claim value is listed twice at line 3 of $BADMAP \\(jti="
printf 'repo:org/app:environment:prod deploy\n repo:org/other:environment:prod x\n' >"$BADMAP"
map_is "map: a line that begins with a blank is an error at its line" \
	"^unavailable: user_map: a line begins with a blank at line 2 of $BADMAP \\(jti="
printf 'repo:org/app:environment:prod\n' >"$BADMAP"
map_is "map: a line without an account is an error" \
	"^unavailable: user_map: a line is not CLAIM_VALUE ACCOUNT at line 1 of $BADMAP \\(jti="
printf 'repo:org/app:environment:prod deploy\r\n' >"$BADMAP"
map_is "map: a CRLF line is an error (the account would hold a CR)" \
	"^unavailable: user_map: an account is not a valid login name at line 1 of $BADMAP \\(jti="
printf 'repo:org/app:environment:prod deploy\n' >"$BADMAP"
chmod 0664 "$BADMAP"
map_is "map: a group-writable map is refused" \
	"^unavailable: file is group- or world-writable \\(user_map $BADMAP\\) \\(jti="
chmod 0644 "$BADMAP"
ln -s "$MAP" "$PJ_TMP/map_link"
conf map-link "issuer = https://token.actions.githubusercontent.com" \
	"audience = https://github.com/org" "user_map = $PJ_TMP/map_link"
map_is "map: a symbolic link is refused" "^unavailable: file is a symbolic link"
conf map-missing "issuer = https://token.actions.githubusercontent.com" \
	"audience = https://github.com/org" "user_map = $PJ_TMP/no_such_map"
map_is "map: a missing map refuses everyone" "^unavailable: file does not exist"
if [ "$(id -u)" = 0 ]; then
	chown 65534:65534 "$BADMAP"
	CONF=$PJ_TMP/map-errors.conf
	map_is "map: a map owned by another user is refused" "^unavailable: file is not owned by root"
else
	skip "a map owned by another user (needs root to chown)"
fi

done_testing
