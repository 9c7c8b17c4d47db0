#!/usr/bin/python3
"""Mint tokens shaped as 13 identity providers issue them, for test_providers_pam.sh.

    provider_tokens.py CORPUS OUTDIR NOW USERS.json

CORPUS is tests/vectors/providers (MANIFEST.tsv, the JWKS files, keys/*.pem), NOW the
time the tokens are issued at (iat; nbf and exp follow from it as each provider sets
them), USERS.json an object {provider: local account name}. Each token goes to
OUTDIR/NAME, one line. Headers carry the members, in the order, that the provider puts in
them; claims are the provider's, with the values an administrator's tenant would give.
Signed with python3-jwt's algorithm implementations (independent of pam_jwt).
"""
import base64
import json
import os
import sys
import uuid

import jwt
from jwt.algorithms import get_default_algorithms

CORPUS, OUT, NOW, USERS = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
U = json.load(open(USERS))
ALGS = get_default_algorithms()

# MANIFEST: set lines give issuer and audience, key lines the signing keys in order
ISS, AUD, KEYS = {}, {}, {}
for line in open(os.path.join(CORPUS, "MANIFEST.tsv")):
    f = line.rstrip("\n").split("\t")
    if f[0] == "set":
        ISS[f[1]], AUD[f[1]] = f[5], f[6]
    elif f[0] == "key":
        KEYS.setdefault(f[1], []).append((f[2], f[3], os.path.join(CORPUS, f[4])))


def jwk_of(provider, kid):
    for k in json.load(open(os.path.join(CORPUS, provider + ".jwks")))["keys"]:
        if k.get("kid") == kid:
            return k
    raise SystemExit("no kid %s in %s.jwks" % (kid, provider))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enc(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def mint(name, provider, index, header, claims):
    """header: a list of member names (alg, kid, x5t filled in from the key) or (name, value)."""
    kid, alg, pem = KEYS[provider][index]
    h = {}
    for m in header:
        if isinstance(m, tuple):
            h[m[0]] = m[1]
        elif m == "alg":
            h["alg"] = alg
        elif m == "kid":
            h["kid"] = kid
        elif m == "x5t":
            h["x5t"] = jwk_of(provider, kid)["x5t"]
    algo = ALGS[alg]
    signing_input = (enc(h) + "." + enc(claims)).encode()
    sig = algo.sign(signing_input, algo.prepare_key(open(pem, "rb").read()))
    with open(os.path.join(OUT, name), "w") as f:
        f.write(signing_input.decode() + "." + b64(sig) + "\n")


def rid():
    return b64(os.urandom(16))


def guid():
    return str(uuid.uuid4())


def edit(claims, **changes):
    """A copy with changes; a value of None drops the claim."""
    out = dict(claims)
    for k, v in changes.items():
        k = k.replace("__", ":")
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


JWT = ("typ", "JWT")

# --- Google: ID token ------------------------------------------------------------------
p, u = "google", U["google"]
g = {"iss": ISS[p], "azp": AUD[p], "aud": AUD[p], "sub": "110169484474386276334",
     "hd": "example.com", "email": u + "@example.com", "email_verified": True,
     "at_hash": rid(), "nonce": rid(), "name": "Test User", "given_name": "Test",
     "family_name": "User", "iat": NOW, "exp": NOW + 3600}
gh = ["alg", "kid", JWT]
mint("google", p, 0, gh, g)
mint("google-key1", p, 1, gh, g)
mint("google-evil", p, 0, gh, edit(g, email=u + "@evil.example", hd="evil.example"))
# a consumer Google account registered with a work address: no hd
mint("google-consumer", p, 0, gh, edit(g, hd=None, sub="104242424242424242424"))
mint("google-otherclient", p, 0, gh,
     edit(g, aud="987654321-other.apps.googleusercontent.com",
          azp="987654321-other.apps.googleusercontent.com"))

# --- Entra ID v2.0 access token for our own API ------------------------------------------
p, u = "entra-v2", U["entra-v2"]
TID = "7c2d52b8-0f3c-4a2e-9a57-3f0c1c6b9e41"
OID = "3f1a9b2c-5d4e-4f60-8a71-92b3c4d5e6f7"
name2 = u[0].upper() + u[1:] + "@Contoso.example"
e2 = {"aud": AUD[p], "iss": ISS[p], "iat": NOW, "nbf": NOW, "exp": NOW + 4200,
      "aio": rid(), "azp": "5e0f2c1a-7b3d-4c9e-8f6a-1d2e3f4a5b6c", "azpacr": "0",
      "name": "Test User", "oid": OID, "preferred_username": name2, "rh": rid(),
      "scp": "ssh.login", "sub": rid(), "tid": TID, "upn": name2, "uti": rid(), "ver": "2.0"}
eh = [JWT, "alg", "kid"]
mint("entra-v2", p, 0, eh, e2)
# the same user's token for Microsoft Graph (an attacker's app can obtain one)
mint("entra-v2-graph", p, 1, eh, edit(e2, aud="00000003-0000-0000-c000-000000000000"))
# a guest: preferred_username is the guest's own address
mint("entra-v2-guest", p, 2, eh, edit(e2, preferred_username=u + "@fabrikam.example",
                                      upn=None, oid="0a0b0c0d-1111-2222-3333-444455556666"))
OTHER_TID = "ffffffff-1e2d-4c3b-9a87-000000000001"
mint("entra-v2-tenant", p, 3, eh,
     edit(e2, iss="https://login.microsoftonline.com/%s/v2.0" % OTHER_TID, tid=OTHER_TID))
# renamed account: the name is right, the object (oid) is another one
mint("entra-v2-otheroid", p, 4, eh, edit(e2, oid="9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"))

# --- Entra ID v1.0 access token ---------------------------------------------------------------
p, u = "entra-v1", U["entra-v1"]
name1 = u.upper() + "@contoso.example"
e1 = {"aud": AUD[p], "iss": ISS[p], "iat": NOW, "nbf": NOW, "exp": NOW + 4200,
      "acr": "1", "aio": rid(), "amr": ["pwd", "mfa"],
      "appid": "5e0f2c1a-7b3d-4c9e-8f6a-1d2e3f4a5b6c", "appidacr": "0",
      "family_name": "User", "given_name": "Test", "ipaddr": "192.0.2.10",
      "name": "Test User", "oid": OID, "rh": rid(), "scp": "user_impersonation",
      "sub": rid(), "tid": TID, "unique_name": name1, "upn": name1, "uti": rid(),
      "ver": "1.0"}
e1h = [JWT, "alg", "x5t", "kid"]
mint("entra-v1", p, 1, e1h, e1)
mint("entra-v1-pwd", p, 1, e1h, edit(e1, amr=["pwd"]))
mint("entra-v1-graph", p, 2, e1h, edit(e1, aud="https://graph.microsoft.com"))
# a guest: no upn, unique_name names the home account
mint("entra-v1-guest", p, 3, e1h,
     edit(e1, upn=None, unique_name="live.com#" + u + "@contoso.example",
          idp="live.com"))

# --- Okta: access token of the default custom authorization server ----------------------
p, u = "okta", U["okta"]
CID = "0oa8pamjwtsshclient"
o = {"ver": 1, "jti": "AT." + rid(), "iss": ISS[p], "aud": AUD[p], "iat": NOW,
     "exp": NOW + 3600, "cid": CID, "uid": "00u1pamjwtuser0001", "scp": ["openid", "email"],
     "auth_time": NOW - 30, "sub": u[0].upper() + u[1:] + "@example.com"}
oh = ["kid", "alg"]
mint("okta", p, 0, oh, o)
mint("okta-otherapp", p, 1, oh, edit(o, cid="0oa9someotherapp0001"))
mint("okta-evil", p, 0, oh, edit(o, sub=u + "@evil.example"))

# --- Auth0: access token for our API, claims added by an Action ------------------------
p, u = "auth0", U["auth0"]
a = {"https://example.org/roles": ["ssh-login", "billing"],
     "https://example.org/username": u, "iss": ISS[p], "sub": "auth0|65f1c0ffee00d1ce",
     "aud": [AUD[p], ISS[p] + "userinfo"], "iat": NOW, "exp": NOW + 86400,
     "scope": "openid profile", "azp": "Xk2pamjwtAuth0ClientId0001"}
ah = ["alg", JWT, "kid"]
mint("auth0", p, 0, ah, a)
mint("auth0-norole", p, 1, ah, edit(a, **{"https://example.org/roles": ["billing"]}))
# the ID token of the same login: aud is the client
mint("auth0-idtoken", p, 0, ah,
     edit(a, aud="Xk2pamjwtAuth0ClientId0001", azp=None, scope=None))
# the Action did not run (or another connection): no username claim
mint("auth0-noaction", p, 0, ah, edit(a, **{"https://example.org/username": None}))

# --- Keycloak: access token --------------------------------------------------------------------
p, u = "keycloak", U["keycloak"]
k = {"exp": NOW + 300, "iat": NOW, "auth_time": NOW - 5, "jti": guid(), "iss": ISS[p],
     "aud": [AUD[p], "account"], "sub": guid(), "typ": "Bearer", "azp": "pam-ssh",
     "sid": guid(), "acr": "1", "allowed-origins": ["/*"],
     "realm_access": {"roles": ["default-roles-ops", "offline_access", "uma_authorization",
                                "ssh-users"]},
     "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
     "scope": "openid profile email", "email_verified": True, "name": "Test User",
     "preferred_username": u, "given_name": "Test", "family_name": "User",
     "email": u + "@example.org"}
kh = ["alg", JWT, "kid"]
mint("keycloak", p, 0, kh, k)
mint("keycloak-norole", p, 0, kh,
     edit(k, realm_access={"roles": ["default-roles-ops", "offline_access"]}))
# no audience mapper: the access token names only the account console
mint("keycloak-nomapper", p, 0, kh, edit(k, aud="account"))
# another client's token that an audience mapper also gave our client's name
mint("keycloak-otherclient", p, 0, kh, edit(k, azp="grafana"))

# --- Amazon Cognito: ID token and access token ------------------------------------------
p, u = "cognito", U["cognito"]
sub = guid()
ci = {"sub": sub, "cognito:groups": ["ops"], "email_verified": True, "iss": ISS[p],
      "cognito:username": u, "origin_jti": guid(), "aud": AUD[p], "event_id": guid(),
      "token_use": "id", "auth_time": NOW - 10, "exp": NOW + 3600, "iat": NOW, "jti": guid(),
      "email": u + "@example.org"}
ca = {"sub": sub, "cognito:groups": ["ops"], "iss": ISS[p], "version": 2,
      "client_id": AUD[p], "origin_jti": ci["origin_jti"], "event_id": ci["event_id"],
      "token_use": "access", "scope": "aws.cognito.signin.user.admin",
      "auth_time": NOW - 10, "exp": NOW + 3600, "iat": NOW, "jti": guid(), "username": u}
cgh = ["kid", "alg"]
mint("cognito-id", p, 0, cgh, ci)
mint("cognito-access", p, 1, cgh, ca)
mint("cognito-id-nogroup", p, 0, cgh, edit(ci, cognito__groups=["dev"]))
mint("cognito-access-otherapp", p, 1, cgh, edit(ca, client_id="7abcdefotherappclient0001"))

# --- GitHub Actions --------------------------------------------------------------------------
p = "github-actions"
WF = "octo-org/app/.github/workflows/deploy.yml@refs/heads/main"
gha = {"jti": guid(), "sub": "repo:octo-org/app:environment:prod", "environment": "prod",
       "aud": AUD[p], "ref": "refs/heads/main", "sha": "a" * 40, "repository": "octo-org/app",
       "repository_owner": "octo-org", "repository_owner_id": "6677889",
       "run_id": "8123456789", "run_number": "42", "run_attempt": "1",
       "repository_visibility": "private", "repository_id": "556677", "actor_id": "1234",
       "actor": "octocat", "workflow": "deploy", "head_ref": "", "base_ref": "",
       "event_name": "push", "ref_protected": "true", "ref_type": "branch",
       "workflow_ref": WF, "workflow_sha": "a" * 40, "job_workflow_ref": WF,
       "job_workflow_sha": "a" * 40, "runner_environment": "github-hosted",
       "enterprise": "", "iss": ISS[p], "nbf": NOW - 600, "exp": NOW + 300, "iat": NOW}
ghh = [JWT, "alg", "x5t", "kid"]
mint("github", p, 0, ghh, gha)
mint("github-otherrepo", p, 1, ghh,
     edit(gha, sub="repo:octo-org/app-evil:environment:prod", repository="octo-org/app-evil",
          repository_id="556699", workflow_ref=WF.replace("/app/", "/app-evil/"),
          job_workflow_ref=WF.replace("/app/", "/app-evil/")))
mint("github-pr", p, 2, ghh, edit(gha, sub="repo:octo-org/app:pull_request",
                                  environment=None, event_name="pull_request",
                                  ref="refs/pull/7/merge"))
# a job for the prod environment from a feature branch's edited workflow
mint("github-branch", p, 0, ghh,
     edit(gha, ref="refs/heads/feature", ref_protected="false",
          workflow_ref=WF.replace("refs/heads/main", "refs/heads/feature"),
          job_workflow_ref=WF.replace("refs/heads/main", "refs/heads/feature")))
# the organisation's name re-registered by someone else
mint("github-squat", p, 0, ghh, edit(gha, repository_owner_id="99000001",
                                     repository_id="99000002"))

# --- GitLab CI: id_tokens ---------------------------------------------------------------------
p = "gitlab-ci"
gl = {"namespace_id": "72", "namespace_path": "group", "project_id": "20",
      "project_path": "group/app", "user_id": "5", "user_login": "someone",
      "user_email": "someone@example.org", "user_access_level": "maintainer",
      "pipeline_id": "574", "pipeline_source": "push", "job_id": "302", "ref": "main",
      "ref_type": "branch", "ref_path": "refs/heads/main", "ref_protected": "true",
      "environment": "production", "environment_protected": "true",
      "deployment_tier": "production", "environment_action": "start", "runner_id": 1,
      "runner_environment": "gitlab-hosted", "sha": "b" * 40, "project_visibility": "private",
      "ci_config_ref_uri": "gitlab.com/group/app//.gitlab-ci.yml@refs/heads/main",
      "ci_config_sha": "b" * 40, "jti": guid(), "iat": NOW, "nbf": NOW - 5, "exp": NOW + 300,
      "iss": ISS[p], "sub": "project_path:group/app:ref_type:branch:ref:main",
      "aud": AUD[p]}
glh = ["kid", JWT, "alg"]
mint("gitlab", p, 0, glh, gl)
# another project's job asks for our audience (a job chooses its aud freely)
mint("gitlab-otherproject", p, 1, glh,
     edit(gl, project_id="21", project_path="group/app2",
          sub="project_path:group/app2:ref_type:branch:ref:main"))
# the same branch name, unprotected
mint("gitlab-unprotected", p, 0, glh, edit(gl, ref_protected="false",
                                           environment_protected="false"))
# the path taken over by another project after a rename
mint("gitlab-squat", p, 0, glh, edit(gl, project_id="9001", namespace_id="9000"))

# --- Kubernetes: projected service account token ---------------------------------------
p, u = "kubernetes", U["kubernetes"]


def sa(ns, name, aud):
    return {"aud": aud, "exp": NOW + 3600, "iat": NOW, "iss": ISS[p], "jti": guid(),
            "kubernetes.io": {"namespace": ns,
                              "node": {"name": "worker-1", "uid": guid()},
                              "pod": {"name": "deploy-7f9c-x2x4z", "uid": guid()},
                              "serviceaccount": {"name": name, "uid": guid()},
                              "warnafter": NOW + 3000},
            "nbf": NOW, "sub": "system:serviceaccount:%s:%s" % (ns, name)}


kh8 = ["alg", "kid"]
mint("k8s", p, 0, kh8, sa("ci", u, [AUD[p]]))
mint("k8s-es256", p, 1, kh8, sa("ci", u, [AUD[p]]))
mint("k8s-otherns", p, 0, kh8, sa("dev", u, [AUD[p]]))
# the token every pod gets for the API server
mint("k8s-apiaud", p, 0, kh8, sa("ci", u, ["https://kubernetes.default.svc.cluster.local"]))
# a legacy Secret-based token: flat claims, no exp, its own iss
mint("k8s-legacy", p, 0, kh8, {
    "iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "ci",
    "kubernetes.io/serviceaccount/secret.name": u + "-token-x2x4z",
    "kubernetes.io/serviceaccount/service-account.name": u,
    "kubernetes.io/serviceaccount/service-account.uid": guid(),
    "sub": "system:serviceaccount:ci:" + u})

# --- HashiCorp Vault: OIDC provider ID token and identity token --------------------------
p, u = "vault", U["vault"]
v = {"at_hash": rid(), "aud": AUD[p], "c_hash": rid(), "exp": NOW + 86400, "iat": NOW,
     "iss": ISS[p], "namespace": "root", "nonce": rid(), "sub": guid(),
     "username": u, "groups": ["ssh-users", "engineering"]}
vh = ["alg", "kid"]
mint("vault", p, 0, vh, v)
mint("vault-eddsa", p, 2, vh, v)
mint("vault-nogroup", p, 0, vh, edit(v, groups=["engineering"]))
mint("vault-noscope", p, 0, vh, edit(v, username=None, groups=None))
mint("vault-otherclient", p, 0, vh, edit(v, aud="0oa9grafanaclientvault"))
# identity/oidc/token/ROLE: issuer .../v1/identity/oidc, aud the role's client_id
VI = "https://vault.example.org:8200/v1/identity/oidc"
vi = {"aud": "pamjwtsshroleclient01", "exp": NOW + 3600, "iat": NOW, "iss": VI,
      "namespace": "root", "sub": v["sub"], "username": u, "groups": ["ssh-users"]}
mint("vault-identity", p, 1, vh, vi)

# --- Dex: ID token --------------------------------------------------------------------------------
p, u = "dex", U["dex"]
d = {"iss": ISS[p], "sub": b64(b"\n\x05" + u.encode() + b"\x12\x04ldap"), "aud": AUD[p],
     "exp": NOW + 86400, "iat": NOW, "nonce": rid(), "at_hash": rid(), "c_hash": rid(),
     "email": u + "@example.com", "email_verified": True, "groups": ["ssh"],
     "name": "Test User", "preferred_username": u,
     "federated_claims": {"connector_id": "ldap",
                          "user_id": "cn=%s,ou=people,dc=example,dc=com" % u}}
dh = ["alg", "kid"]
mint("dex", p, 0, dh, d)
# the same address through the GitHub connector (any GitHub user can claim it)
mint("dex-github", p, 1, dh,
     edit(d, federated_claims={"connector_id": "github", "user_id": "31337"}))
mint("dex-evil", p, 0, dh, edit(d, email=u + "@evil.example"))
mint("dex-otherclient", p, 0, dh, edit(d, aud="grafana"))

# --- Authelia: ID token -------------------------------------------------------------------------
p, u = "authelia", U["authelia"]
au = {"amr": ["pwd", "otp", "mfa"], "at_hash": rid(), "aud": [AUD[p]],
      "auth_time": NOW - 20, "azp": AUD[p], "client_id": AUD[p],
      "email": u + "@example.com", "email_verified": True, "exp": NOW + 3600,
      "groups": ["admins", "ssh"], "iat": NOW, "iss": ISS[p], "jti": guid(),
      "name": "Test User", "nonce": rid(), "preferred_username": u, "rat": NOW - 25,
      "sub": guid()}
auh = ["alg", "kid", JWT]
mint("authelia", p, 0, auh, au)
mint("authelia-es256", p, 1, auh, au)
mint("authelia-nogroup", p, 0, auh, edit(au, groups=["admins"]))
mint("authelia-otherclient", p, 0, auh, edit(au, aud=["grafana"], azp="grafana",
                                             client_id="grafana"))
