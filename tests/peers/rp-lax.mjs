// A deliberately lax relying party for tests/real_peers.rs (`probe-rp` must catch it): a hand
// written code flow that checks the state, the iss parameter, the ID token's signature (RS256
// from the JWKS), iss, exp, iat, sub and userinfo's sub, but NOT aud and NOT the nonce; with
// LAX=all it checks nothing at all (every bad answer must come out accepted).
// Mastodon's paths; a refusal answers 401, a login "signed in as <preferred_username>".
//   OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI, PORT, LAX
// Prints "listening PORT" on stdout once it accepts connections.
import http from 'node:http';
import crypto from 'node:crypto';
import dns from 'node:dns';
import * as jose from 'jose';

dns.setDefaultResultOrder('ipv4first');
const env = process.env;
const redirectUri = env.OIDC_REDIRECT_URI;
const sessions = new Map(); // cookie -> { state, nonce }
const none = env.LAX === 'all';

const discovered = async () =>
  (await fetch(new URL('.well-known/openid-configuration', env.OIDC_ISSUER))).json();

function page(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
  const safe = String(text).replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  res.end(`<!DOCTYPE html><html><head><title>lax relying party</title></head><body><p id="outcome">${safe}</p>
<form method="post" action="/auth/auth/openid_connect"><button id="login" type="submit">Log in</button></form></body></html>`);
}

const cookieOf = (req) => (req.headers.cookie ?? '').split(';').map((s) => s.trim())
  .find((s) => s.startsWith('lax_session='))?.slice('lax_session='.length);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, redirectUri);
  try {
    if (url.pathname === '/auth/sign_in') return page(res, 200, 'not signed in');
    if (url.pathname === '/auth/auth/openid_connect' && req.method === 'POST') {
      const d = await discovered();
      const state = crypto.randomBytes(16).toString('hex');
      const nonce = crypto.randomBytes(16).toString('hex');
      const sid = crypto.randomBytes(16).toString('hex');
      sessions.set(sid, { state, nonce });
      const to = new URL(d.authorization_endpoint);
      for (const [k, v] of Object.entries({ client_id: env.OIDC_CLIENT_ID, redirect_uri: redirectUri,
        response_type: 'code', scope: 'openid profile email', state, nonce })) to.searchParams.set(k, v);
      res.writeHead(302, { location: to.href, 'set-cookie': `lax_session=${sid}; Path=/; HttpOnly` });
      return res.end();
    }
    if (url.pathname === new URL(redirectUri).pathname) {
      const s = sessions.get(cookieOf(req));
      sessions.delete(cookieOf(req));
      if (!none && (!s || url.searchParams.get('state') !== s.state)) return page(res, 401, 'rejected: state');
      const d = await discovered();
      const iss = url.searchParams.get('iss');
      if (!none && iss !== null && iss !== d.issuer) return page(res, 401, 'rejected: iss parameter');
      const basic = Buffer.from(`${env.OIDC_CLIENT_ID}:${env.OIDC_CLIENT_SECRET}`).toString('base64');
      const t = await fetch(d.token_endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: url.searchParams.get('code') ?? '',
          redirect_uri: redirectUri }),
      });
      const tokens = await t.json();
      if (!t.ok || !tokens.id_token) return page(res, 401, `rejected: token ${t.status}`);
      let claims;
      if (none) {
        claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1] ?? '', 'base64url').toString() || '{}');
      } else try {
        // The lax part: no `audience`, and the nonce is never compared.
        ({ payload: claims } = await jose.jwtVerify(tokens.id_token, jose.createRemoteJWKSet(new URL(d.jwks_uri)), {
          issuer: env.OIDC_ISSUER, algorithms: ['RS256'], requiredClaims: ['iat', 'sub', 'exp'],
        }));
      } catch (e) {
        return page(res, 401, `rejected: ${e.code ?? ''} ${e.message}`);
      }
      const u = await fetch(d.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const info = await u.json();
      if (!none && info.sub !== claims.sub) return page(res, 401, 'rejected: userinfo sub');
      return page(res, 200, `signed in as ${info.preferred_username ?? claims.sub}`);
    }
    return page(res, 404, 'no such page');
  } catch (e) {
    return page(res, 500, `rejected: ${e.code ?? ''} ${e.message}`);
  }
});
server.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
