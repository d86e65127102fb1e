#!/usr/bin/python3
"""A tiny identity provider: the trusted issuer of jwt-up.yaml.

It keeps an RSA signing key and the JWKS that publishes it in a directory,
and signs tokens with it, so that jwt-up has incoming tokens to re-sign.

    /usr/bin/python3 idp.py keys DIR
        make an RSA key: DIR/idp.key (private), DIR/idp.pub (public, PEM)
        and DIR/jwks.json, which publishes it under kid idp-1
    /usr/bin/python3 idp.py sign DIR 'JSON' [--kid K] [--alg A] [--key FILE]
        print a compact token of the claims in JSON, over iss
        https://idp.example, aud jwt-up, iat now and exp in an hour; a
        claim in JSON replaces these, and null leaves one out
    /usr/bin/python3 idp.py rotate DIR
        make a new key, add it to DIR/jwks.json under the next kid (idp-2,
        …) and sign with it from now on; the old key stays published

sign uses DIR/idp.key and the kid jwks.json gives it, unless told
otherwise: --key names another private key PEM, --kid another kid. With
--alg HS256, HS384 or HS512 the bytes of the --key file are the HMAC
secret, and --alg none leaves the token unsigned: both are how an attacker
forges a token, for checking that jwt-up refuses them. Exits 2 when called
wrongly.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:
    print(
        "idp.py needs PyJWT with cryptography: run it with Debian's /usr/bin/python3 "
        "after apt-get install python3-jwt python3-cryptography",
        file=sys.stderr,
    )
    sys.exit(2)

ISSUER = "https://idp.example"
AUDIENCE = "jwt-up"
LIFETIME = 3600  # seconds

HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write(path, data, mode=0o644):
    """Write data to path whole: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_key(path, key):
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write(path, pem, 0o600)


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_jwk(key, kid):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def load_jwks(directory):
    with open(os.path.join(directory, "jwks.json")) as f:
        return json.load(f)


def save_jwks(directory, jwks):
    write(os.path.join(directory, "jwks.json"), json.dumps(jwks, indent=2).encode() + b"\n")


def kid_of(directory, key):
    """Return the kid jwks.json publishes key under, or None."""
    n = public_jwk(key, "")["n"]
    for jwk in load_jwks(directory)["keys"]:
        if jwk.get("n") == n:
            return jwk["kid"]
    return None


def cmd_keys(args):
    os.makedirs(args.dir, exist_ok=True)
    key = new_key()
    write_key(os.path.join(args.dir, "idp.key"), key)
    write(os.path.join(args.dir, "idp.pub"), public_pem(key))
    save_jwks(args.dir, {"keys": [public_jwk(key, "idp-1")]})
    print("idp-1")
    return 0


def cmd_rotate(args):
    jwks = load_jwks(args.dir)
    old_path = os.path.join(args.dir, "idp.key")
    old = load_key(old_path)
    old_kid = kid_of(args.dir, old)

    key = new_key()
    kid = "idp-%d" % (len(jwks["keys"]) + 1)
    jwks["keys"].append(public_jwk(key, kid))
    # Publish first, then sign with the new key: a verifier that sees the
    # new kid can always find it.
    save_jwks(args.dir, jwks)
    if old_kid:
        write_key(os.path.join(args.dir, old_kid + ".key"), old)
    write_key(old_path, key)
    write(os.path.join(args.dir, "idp.pub"), public_pem(key))
    print(kid)
    return 0


def claims_of(text):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + LIFETIME}
    extra = json.loads(text)
    if not isinstance(extra, dict):
        raise ValueError("the claims must be a JSON object")
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def sign_by_hand(claims, alg, kid, secret):
    """Sign what PyJWT refuses to: alg none, and HMAC keyed with a PEM."""
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if alg == "none":
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), HMAC_HASHES[alg]).digest()
    return signing_input + "." + b64url(mac)


def cmd_sign(args):
    try:
        claims = claims_of(args.claims)
    except ValueError as err:
        print(f"idp.py: claims: {err}", file=sys.stderr)
        return 2

    if args.alg == "none" or args.alg in HMAC_HASHES:
        secret = b""
        if args.alg != "none":
            if not args.key:
                print(f"idp.py: --alg {args.alg} needs --key FILE, the secret", file=sys.stderr)
                return 2
            with open(args.key, "rb") as f:
                secret = f.read()
        print(sign_by_hand(claims, args.alg, args.kid, secret))
        return 0

    key = load_key(args.key or os.path.join(args.dir, "idp.key"))
    kid = args.kid or kid_of(args.dir, key)
    headers = {"kid": kid} if kid else None
    print(jwt.encode(claims, key, algorithm=args.alg, headers=headers))
    return 0


def main(argv):
    parser = argparse.ArgumentParser(prog="idp.py", description="A tiny identity provider.")
    sub = parser.add_subparsers(dest="command", required=True)

    keys = sub.add_parser("keys", help="make a key and its JWKS")
    keys.add_argument("dir")
    keys.set_defaults(run=cmd_keys)

    sign = sub.add_parser("sign", help="print a signed token")
    sign.add_argument("dir")
    sign.add_argument("claims", help="a JSON object of claims")
    sign.add_argument("--kid", help="kid header (default: the key's in jwks.json)")
    sign.add_argument("--alg", default="RS256", help="algorithm (default RS256)")
    sign.add_argument("--key", help="private key PEM, or HMAC secret file (default DIR/idp.key)")
    sign.set_defaults(run=cmd_sign)

    rotate = sub.add_parser("rotate", help="publish a new key and sign with it")
    rotate.add_argument("dir")
    rotate.set_defaults(run=cmd_rotate)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
