#!/usr/bin/python3
"""Write the provider-shaped JWKS corpus of this directory, with fresh keys.

Each <provider>.jwks has the shape a provider publishes at its JWKS endpoint (members,
their order, kid style, certificates, encryption keys beside signing keys) as described in
its public documentation, but every key in it is new, made here. The private half of each
signing key goes to keys/<provider>.<index>.pem (PKCS#8, unencrypted: these keys sign test
tokens and nothing else), and MANIFEST.tsv lists, for tests/vectors/test_providers_cli.sh
and tests/unit/test_jwks.c, what an administrator would configure and what must load:

    set  PROVIDER  FILE  USABLE  SKIPPED  ISSUER  AUDIENCE
    key  PROVIDER  KID   ALG     PRIVATE_KEY_FILE

Run it from anywhere (python3-cryptography); it replaces the corpus. Entra ID's v1 and v2
documents hold the same keys, as the real endpoints do.
"""
import base64
import datetime
import hashlib
import json
import os
import secrets
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return n.to_bytes(size, "big")


def spki_der(priv):
    return priv.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


class Key:
    """A fresh key pair and the JWK members of its public half."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "RSA":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kind in ("P-256", "P-384"):
            curve = ec.SECP256R1() if kind == "P-256" else ec.SECP384R1()
            self.priv = ec.generate_private_key(curve)
        elif kind == "Ed25519":
            self.priv = ed25519.Ed25519PrivateKey.generate()
        self._cert = None

    def material(self):
        pub = self.priv.public_key()
        if self.kind == "RSA":
            nums = pub.public_numbers()
            return {"n": b64u(uint(nums.n)), "e": b64u(uint(nums.e))}
        if self.kind in ("P-256", "P-384"):
            size = 32 if self.kind == "P-256" else 48
            nums = pub.public_numbers()
            return {"crv": self.kind, "x": b64u(uint(nums.x, size)),
                    "y": b64u(uint(nums.y, size))}
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "x": b64u(raw)}

    def cert_der(self, cn):
        """A self-signed certificate for x5c (nothing checks it: we never trust x5c)."""
        if self._cert is None:
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
            start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(self.priv.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
                    .sign(self.priv, hashes.SHA256()))
            self._cert = cert.public_bytes(serialization.Encoding.DER)
        return self._cert

    def x5c(self, cn):
        return [base64.b64encode(self.cert_der(cn)).decode()]

    def x5t(self, cn):
        return b64u(hashlib.sha1(self.cert_der(cn)).digest())

    def x5t256(self, cn):
        return b64u(hashlib.sha256(self.cert_der(cn)).digest())

    def pem(self):
        return self.priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


def hex40():
    return secrets.token_hex(20)


def b64u43():
    return b64u(secrets.token_bytes(32))


def ordered(*pairs):
    """A JWK with members in the provider's order (dicts keep insertion order)."""
    return dict(pairs)


# Each provider: issuer and audience an admin would configure, and its keys as
# (Key, JWK, signs) with the JWK's members in that provider's order.
def google():
    # https://www.googleapis.com/oauth2/v3/certs
    keys = []
    for _ in range(2):
        k = Key("RSA")
        m = k.material()
        keys.append((k, ordered(("e", m["e"]), ("alg", "RS256"), ("kty", "RSA"),
                                ("kid", hex40()), ("n", m["n"]), ("use", "sig")), True))
    return "https://accounts.google.com", "1234567890-pamjwt.apps.googleusercontent.com", keys


ENTRA_KEYS = []


def entra_keys():
    if not ENTRA_KEYS:
        for i in range(5):
            ENTRA_KEYS.append(Key("RSA"))
    return ENTRA_KEYS


def entra(version):
    # https://login.microsoftonline.com/common/discovery/keys (v1) and
    # .../common/discovery/v2.0/keys (v2: each key names its issuer, a template for /common)
    keys = []
    for i, k in enumerate(entra_keys()):
        cn = "entra-shaped test key %d" % i
        m = k.material()
        jwk = ordered(("kty", "RSA"), ("use", "sig"), ("kid", k.x5t(cn)), ("x5t", k.x5t(cn)),
                      ("n", m["n"]), ("e", m["e"]), ("x5c", k.x5c(cn)),
                      ("cloud_instance_name", "microsoftonline.com"))
        if version == 2:
            jwk["issuer"] = "https://login.microsoftonline.com/{tenantid}/v2.0"
        keys.append((k, jwk, True))
    tenant = "7c2d52b8-0f3c-4a2e-9a57-3f0c1c6b9e41"
    if version == 1:
        return "https://sts.windows.net/%s/" % tenant, "api://pam-jwt-ssh", keys
    return ("https://login.microsoftonline.com/%s/v2.0" % tenant,
            "0c5b1c6e-4f0e-4a7a-8d7e-2b9f6e1d3a55", keys)


def okta():
    # https://{yourOktaDomain}/oauth2/default/v1/keys
    keys = []
    for _ in range(2):
        k = Key("RSA")
        m = k.material()
        keys.append((k, ordered(("kty", "RSA"), ("alg", "RS256"), ("kid", b64u43()),
                                ("use", "sig"), ("e", m["e"]), ("n", m["n"])), True))
    return "https://dev-31415926.okta.com/oauth2/default", "api://default", keys


def auth0():
    # https://{tenant}.auth0.com/.well-known/jwks.json
    keys = []
    for i in range(2):
        k = Key("RSA")
        cn = "dev-pamjwt.us.auth0.com"
        m = k.material()
        keys.append((k, ordered(("kty", "RSA"), ("use", "sig"), ("n", m["n"]), ("e", m["e"]),
                                ("kid", b64u(secrets.token_bytes(16))), ("x5t", k.x5t(cn)),
                                ("x5c", k.x5c(cn)), ("alg", "RS256")), True))
    return "https://dev-pamjwt.us.auth0.com/", "https://ssh.example.org", keys


def keycloak():
    # https://{host}/realms/{realm}/protocol/openid-connect/certs: the realm's RSA-OAEP
    # encryption key is published beside its signing key
    keys = []
    for alg, use in (("RSA-OAEP", "enc"), ("RS256", "sig")):
        k = Key("RSA")
        cn = "ops"  # Keycloak names its generated certificates after the realm
        m = k.material()
        keys.append((k, ordered(("kid", b64u43()), ("kty", "RSA"), ("alg", alg), ("use", use),
                                ("n", m["n"]), ("e", m["e"]), ("x5c", k.x5c(cn)),
                                ("x5t", k.x5t(cn)), ("x5t#S256", k.x5t256(cn))),
                     use == "sig"))
    return "https://sso.example.org/realms/ops", "pam-ssh", keys


def cognito():
    # https://cognito-idp.{region}.amazonaws.com/{userPoolId}/.well-known/jwks.json
    keys = []
    for _ in range(2):
        k = Key("RSA")
        m = k.material()
        kid = base64.b64encode(secrets.token_bytes(32)).decode()  # standard base64: + / =
        keys.append((k, ordered(("alg", "RS256"), ("e", m["e"]), ("kid", kid), ("kty", "RSA"),
                                ("n", m["n"]), ("use", "sig")), True))
    return ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_PamJwt01",
            "3n4b5urk1ft4fl3mg5e62d9ado", keys)


def github_actions():
    # https://token.actions.githubusercontent.com/.well-known/jwks
    keys = []
    for _ in range(3):
        k = Key("RSA")
        cn = "token.actions.githubusercontent.com"
        m = k.material()
        keys.append((k, ordered(("n", m["n"]), ("kty", "RSA"), ("kid", hex40().upper()),
                                ("alg", "RS256"), ("e", m["e"]), ("use", "sig"),
                                ("x5c", k.x5c(cn)), ("x5t", k.x5t(cn))), True))
    return "https://token.actions.githubusercontent.com", "https://github.com/octo-org", keys


def gitlab_ci():
    # https://gitlab.com/oauth/discovery/keys (the ID tokens of CI jobs)
    keys = []
    for _ in range(2):
        k = Key("RSA")
        m = k.material()
        keys.append((k, ordered(("kty", "RSA"), ("kid", b64u43()), ("e", m["e"]), ("n", m["n"]),
                                ("use", "sig"), ("alg", "RS256")), True))
    return "https://gitlab.com", "https://ssh.example.org", keys


def kubernetes():
    # https://{apiserver}/openid/v1/jwks (service account issuer discovery)
    # a cluster rolling its service-account signing key from RSA to ECDSA: both published
    keys = []
    k = Key("RSA")
    m = k.material()
    keys.append((k, ordered(("use", "sig"), ("kty", "RSA"),
                            ("kid", b64u(hashlib.sha256(spki_der(k.priv)).digest())),
                            ("alg", "RS256"), ("n", m["n"]), ("e", m["e"])), True))
    k = Key("P-256")
    m = k.material()
    keys.append((k, ordered(("use", "sig"), ("kty", "EC"),
                            ("kid", b64u(hashlib.sha256(spki_der(k.priv)).digest())),
                            ("crv", "P-256"), ("alg", "ES256"), ("x", m["x"]), ("y", m["y"])),
                 True))
    return "https://kubernetes.default.svc.cluster.local", "pam-jwt", keys


def vault():
    # https://{vault}/v1/identity/oidc/provider/{name}/.well-known/keys: RSA, EC and
    # Ed25519 named keys
    keys = []
    for kind, kty, alg in (("RSA", "RSA", "RS256"), ("P-384", "EC", "ES384"),
                           ("Ed25519", "OKP", "EdDSA")):
        k = Key(kind)
        m = k.material()
        jwk = ordered(("use", "sig"), ("kty", kty), ("kid", str(uuid.uuid4())))
        if kty == "RSA":
            jwk.update(ordered(("alg", alg), ("n", m["n"]), ("e", m["e"])))
        elif kty == "EC":
            jwk.update(ordered(("crv", m["crv"]), ("alg", alg), ("x", m["x"]), ("y", m["y"])))
        else:
            jwk.update(ordered(("crv", m["crv"]), ("alg", alg), ("x", m["x"])))
        keys.append((k, jwk, True))
    return ("https://vault.example.org:8200/v1/identity/oidc/provider/ssh",
            "0oa1ssh2clientid3vault", keys)


def dex():
    # https://{dex}/keys: the signing key and the verification keys kept after rotation
    keys = []
    for _ in range(2):
        k = Key("RSA")
        m = k.material()
        keys.append((k, ordered(("use", "sig"), ("kty", "RSA"), ("kid", hex40()),
                                ("alg", "RS256"), ("n", m["n"]), ("e", m["e"])), True))
    return "https://dex.example.org", "pam-ssh", keys


def authelia():
    # https://{authelia}/jwks.json: one RS256 and one ES256 issuer key
    keys = []
    k = Key("RSA")
    m = k.material()
    keys.append((k, ordered(("use", "sig"), ("kty", "RSA"), ("kid", secrets.token_hex(4)[:7]),
                            ("alg", "RS256"), ("n", m["n"]), ("e", m["e"]),
                            ("x5c", k.x5c("auth.example.org"))), True))
    k = Key("P-256")
    m = k.material()
    keys.append((k, ordered(("use", "sig"), ("kty", "EC"), ("kid", secrets.token_hex(4)[:7]),
                            ("crv", "P-256"), ("alg", "ES256"), ("x", m["x"]), ("y", m["y"])),
                 True))
    return "https://auth.example.org", "pam-ssh", keys


PROVIDERS = [
    ("google", google),
    ("entra-v1", lambda: entra(1)),
    ("entra-v2", lambda: entra(2)),
    ("okta", okta),
    ("auth0", auth0),
    ("keycloak", keycloak),
    ("cognito", cognito),
    ("github-actions", github_actions),
    ("gitlab-ci", gitlab_ci),
    ("kubernetes", kubernetes),
    ("vault", vault),
    ("dex", dex),
    ("authelia", authelia),
]

JWS_ALG = {"RSA": "RS256", "P-256": "ES256", "P-384": "ES384", "Ed25519": "EdDSA"}


def main():
    os.makedirs(os.path.join(HERE, "keys"), exist_ok=True)
    manifest = ["# Written by generate.py. set: PROVIDER FILE USABLE SKIPPED ISSUER AUDIENCE;",
                "# key: PROVIDER KID ALG PRIVATE_KEY (one line per key that signs tokens)."]
    written = {}  # a key in two documents (Entra v1, v2) has one private key file
    for name, make in PROVIDERS:
        iss, aud, keys = make()
        doc = {"keys": [jwk for _, jwk, _ in keys]}
        with open(os.path.join(HERE, name + ".jwks"), "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        usable = sum(1 for _, _, signs in keys if signs)
        manifest.append("\t".join(["set", name, name + ".jwks", str(usable),
                                   str(len(keys) - usable), iss, aud]))
        for i, (k, jwk, signs) in enumerate(keys):
            if not signs:
                continue
            if k not in written:
                written[k] = "keys/%s.%d.pem" % (name, i)
                with open(os.path.join(HERE, written[k]), "wb") as f:
                    f.write(k.pem())
            pem = written[k]
            # the alg a token carries: the key's own, or the one its kind is pinned to
            alg = jwk.get("alg", JWS_ALG[k.kind])
            manifest.append("\t".join(["key", name, jwk["kid"], alg, pem]))
    with open(os.path.join(HERE, "MANIFEST.tsv"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
