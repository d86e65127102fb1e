#!/usr/bin/python3
"""Check a jwt-up token the way a Python upstream API would, with PyJWT.

The signature is checked against the key the token names in jwt-up's JWKS,
with the one algorithm jwt-up signs with; then the issuer, the audience,
and exp / nbf / iat.

    /usr/bin/python3 verify.py JWKS_URL ISSUER AUDIENCE ALG TOKEN

TOKEN "-" reads it from standard input. Prints "valid: ..." and exits 0 for
a good token; prints "invalid: ..." and exits 1 for any other; exits 2 when
called wrongly.
"""

import sys

try:
    import jwt
except ImportError:
    print(
        "verify.py needs PyJWT with cryptography: run it with Debian's /usr/bin/python3 "
        "after apt-get install python3-jwt python3-cryptography",
        file=sys.stderr,
    )
    sys.exit(2)

USAGE = "usage: verify.py JWKS_URL ISSUER AUDIENCE ALG TOKEN|-"


def verify(token, jwks_url, issuer, audience, alg):
    """Return the claims of token, or raise jwt.PyJWTError saying why not."""
    # In a server, make one client and keep it: it caches the keys it
    # fetched, and fetches the JWKS again for a kid it has not seen.
    client = jwt.PyJWKClient(jwks_url)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=[alg],  # pinned: never trust the token's own alg
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iss", "aud"]},
    )


def main(args):
    if len(args) != 5:
        print(USAGE, file=sys.stderr)
        return 2
    jwks_url, issuer, audience, alg, token = args
    if token == "-":
        token = sys.stdin.read().strip()

    try:
        claims = verify(token, jwks_url, issuer, audience, alg)
    except jwt.PyJWTError as err:
        print(f"invalid: {type(err).__name__}: {err}")
        return 1
    print(f"valid: sub={claims.get('sub')} exp={claims['exp']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
