#!/usr/bin/python3
"""Check a jwt-up token as the upstream API it was minted for would.

    /usr/bin/python3 check.py JWKS_URL ISSUER AUDIENCE TYP TOKEN \
        [--body FILE --method M --path P]

The signature is checked with the key the token's kid names in jwt-up's
JWKS, with RS256 pinned; then iss, aud and exp (all three required), nbf,
and the typ header, which must be TYP: the token type the audience's
profile gives (JWT, at+jwt or txntoken+jwt). For an audience whose tokens
are bound to one request, --body, --method and --path describe the request
the upstream received: the token's request claim must name the same
method and path, and the SHA-256 of the body, base64url without padding.

TOKEN "-" reads it from standard input. Prints the claims as JSON and
exits 0 for a good token; prints "invalid: ..." and exits 1 for any other;
exits 2 when called wrongly.
"""

import argparse
import base64
import hashlib
import json
import sys

try:
    import jwt
except ImportError:
    print(
        "check.py needs PyJWT with cryptography: run it with Debian's /usr/bin/python3 "
        "after apt-get install python3-jwt python3-cryptography",
        file=sys.stderr,
    )
    sys.exit(2)

ALGORITHM = "RS256"  # the one jwt-up signs with here: JWTUP_SIGNING_ALG


class Invalid(Exception):
    """The token is not one the upstream may accept."""


def verify(token, jwks_url, issuer, audience, typ):
    """Return the claims of token, or raise saying why not."""
    # In a server, make one client and keep it: it caches the keys, and
    # fetches the set again for a kid it has not seen.
    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[ALGORITHM],  # pinned: never trust the token's own alg
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iss", "aud"]},
    )
    # The signature covers the header, so it can be trusted now.
    got = jwt.get_unverified_header(token).get("typ")
    if got != typ:
        raise Invalid(f"typ is {got!r}, want {typ!r}")
    return claims


def check_request(claims, body_file, method, path):
    """Raise unless the token is bound to this request."""
    with open(body_file, "rb") as f:
        digest = base64.urlsafe_b64encode(hashlib.sha256(f.read()).digest()).rstrip(b"=").decode()
    bound = claims.get("request")
    if not isinstance(bound, dict):
        raise Invalid("the token is not bound to a request (no request claim)")
    want = {"method": method, "path": path, "body_sha256": digest}
    for name, value in want.items():
        if bound.get(name) != value:
            raise Invalid(f"request.{name} is {bound.get(name)!r}, this request has {value!r}")


def main(argv):
    parser = argparse.ArgumentParser(prog="check.py", description="Check a jwt-up token.")
    for name in ("jwks_url", "issuer", "audience", "typ", "token"):
        parser.add_argument(name)
    parser.add_argument("--body", help="file holding the body of the request received")
    parser.add_argument("--method", help="method of the request received")
    parser.add_argument("--path", help="path and query of the request received")
    args = parser.parse_args(argv)
    binding = (args.body, args.method, args.path)
    if any(binding) and not all(binding):
        parser.error("--body, --method and --path go together")

    token = sys.stdin.read().strip() if args.token == "-" else args.token
    try:
        claims = verify(token, args.jwks_url, args.issuer, args.audience, args.typ)
        if args.body:
            check_request(claims, args.body, args.method, args.path)
    except (jwt.PyJWTError, Invalid) as err:
        print(f"invalid: {type(err).__name__}: {err}")
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
