#!/usr/bin/env node
// Checks a jwt-up token the way a Node.js upstream API would, with jose:
// the signature against the key the token names in jwt-up's JWKS, the one
// algorithm jwt-up signs with, the issuer, the audience, and exp / nbf.
//
//   node verify.mjs JWKS_URL ISSUER AUDIENCE ALG TOKEN
//
// TOKEN "-" reads it from standard input. Prints "valid: …" and exits 0
// for a good token; prints "invalid: …" and exits 1 for any other; exits 2
// when called wrongly.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const usage = 'usage: node verify.mjs JWKS_URL ISSUER AUDIENCE ALG TOKEN|-';

async function readToken(arg) {
  if (arg !== '-') return arg;
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.trim();
}

async function main(args) {
  if (args.length !== 5) {
    console.error(usage);
    return 2;
  }
  const [jwksURL, issuer, audience, alg, tokenArg] = args;
  const token = await readToken(tokenArg);

  // In a server, make the key set once and keep it: it caches the JWKS
  // and fetches it again when a token names a kid it has not seen, which
  // is how a rotated-in key is picked up.
  const jwks = createRemoteJWKSet(new URL(jwksURL));
  try {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      algorithms: [alg],       // pinned: never trust the token's own alg
      requiredClaims: ['exp'], // jose checks exp when present; insist on it
    });
    const expires = new Date(payload.exp * 1000).toISOString();
    console.log(`valid: sub=${payload.sub} kid=${protectedHeader.kid} expires=${expires}`);
    return 0;
  } catch (err) {
    console.log(`invalid: ${err.code ?? err.name}: ${err.message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
