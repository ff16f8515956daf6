// A real relying party for tests/real_peers.rs: panva's openid-client (certified) behind
// Mastodon's paths. Configured from Mastodon's OIDC_* variables (the environment), it signs the
// browser in with the code flow (state, nonce, client_secret_basic), calls userinfo, and shows
// the outcome: "signed in as <preferred_username>" or "rejected: <why>".
//   OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI, OIDC_SCOPE, PORT
// Prints "listening PORT" on stdout once it accepts connections.
import http from 'node:http';
import crypto from 'node:crypto';
import dns from 'node:dns';
import * as client from 'openid-client';

dns.setDefaultResultOrder('ipv4first');
const env = process.env;
const redirectUri = env.OIDC_REDIRECT_URI;
const scope = (env.OIDC_SCOPE ?? 'openid,profile,email').split(',').join(' ');
const sessions = new Map(); // cookie -> { state, nonce }
let config; // discovered lazily, as Mastodon does on its first login

async function discovered() {
  config ??= await client.discovery(
    new URL(env.OIDC_ISSUER),
    env.OIDC_CLIENT_ID,
    env.OIDC_CLIENT_SECRET,
    client.ClientSecretBasic(env.OIDC_CLIENT_SECRET),
  );
  return config;
}

function page(res, status, text, headers = {}) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
  const safe = String(text).replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`);
  res.end(`<!DOCTYPE html><html><head><title>relying party</title></head><body><p id="outcome">${safe}</p>
<form method="post" action="/auth/auth/openid_connect"><button id="login" type="submit">Log in with authentik</button></form></body></html>`);
}

const cookieOf = (req) => (req.headers.cookie ?? '').split(';').map((s) => s.trim())
  .find((s) => s.startsWith('rp_session='))?.slice('rp_session='.length);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, redirectUri);
  try {
    if (url.pathname === '/auth/sign_in') return page(res, 200, 'not signed in');
    if (url.pathname === '/auth/auth/openid_connect' && req.method === 'POST') {
      const c = await discovered();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const sid = crypto.randomBytes(16).toString('hex');
      sessions.set(sid, { state, nonce });
      const to = client.buildAuthorizationUrl(c, { redirect_uri: redirectUri, scope, state, nonce, response_type: 'code' });
      res.writeHead(302, { location: to.href, 'set-cookie': `rp_session=${sid}; Path=/; HttpOnly` });
      return res.end();
    }
    if (url.pathname === new URL(redirectUri).pathname) {
      const s = sessions.get(cookieOf(req));
      if (!s) return page(res, 422, 'rejected: no login in progress');
      sessions.delete(cookieOf(req));
      const c = await discovered();
      let tokens;
      try {
        tokens = await client.authorizationCodeGrant(c, new URL(url.href), {
          expectedState: s.state,
          expectedNonce: s.nonce,
          idTokenExpected: true,
        });
      } catch (e) {
        return page(res, 401, `rejected: ${e.code ?? ''} ${e.message}`);
      }
      const claims = tokens.claims();
      try {
        const info = await client.fetchUserInfo(c, tokens.access_token, claims.sub);
        return page(res, 200, `signed in as ${info.preferred_username ?? claims.preferred_username ?? claims.sub}`);
      } catch (e) {
        return page(res, 401, `rejected: ${e.code ?? ''} ${e.message}`);
      }
    }
    return page(res, 404, 'no such page');
  } catch (e) {
    return page(res, 500, `rejected: ${e.code ?? ''} ${e.message}`);
  }
});
server.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
