// A real OpenID provider for tests/real_peers.rs: panva's oidc-provider (certified, not ours)
// laid out like authentik (issuer https://HOST/application/o/<slug>/ with its trailing slash,
// authentik's endpoint paths with theirs, authentik's claims), in one of two login styles:
//
// - "interaction": oidc-provider's own interaction pages (/interaction/<uid>); the code comes
//   from the resume redirect (/application/o/authorize/<uid> -> 303 Location: callback?code=).
// - "authentik": an authentik-like flow page (/if/flow/<slug>/?<authorize query>) whose script
//   drives executor-shaped JSON (/api/v3/flows/executor/<slug>/?query=...: identification,
//   password, then xak-flow-redirect to the resume URL, which answers with the code).
//
// Faults are switches (a list of names in the config): each bends what the provider answers
// the way a misconfigured deployment does. Usage:
//   node provider.mjs '{"port":0,"public":"https://localhost:8443","slug":"mastodon",
//     "style":"interaction","faults":[],"client":{"id":"..","secret":"..","redirect_uris":[".."]}}'
// Prints "listening PORT" on stdout once it accepts connections.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const faults = new Set(cfg.faults ?? []);
const has = (f) => faults.has(f);
const slug = cfg.slug ?? 'mastodon';
const publicOrigin = cfg.public; // how clients reach the provider (through the gateway)
const issuer = has('iss-no-slash')
  ? `${publicOrigin}/application/o/${slug}`
  : `${publicOrigin}/application/o/${slug}/`;
const FLOW = 'default-authentication-flow';
const USER = { username: 'akadmin', password: 'correct horse battery staple' };
const sub = crypto.createHash('sha256').update(USER.username).digest('hex');

// authentik signs with one RSA key; its kid is base64url(sha512(PEM)) on current versions.
const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), alg: 'RS256', use: 'sig' };
jwk.kid = crypto.createHash('sha512').update(JSON.stringify(jwk)).digest('base64url');
const otherKey = (await jose.generateKeyPair('RS256')).privateKey;
void publicKey;

const claimsOf = () => {
  const c = {
    sub,
    email: 'akadmin@example.test',
    email_verified: true,
    name: 'authentik Default Admin',
    given_name: 'authentik Default Admin',
    preferred_username: USER.username,
    nickname: USER.username,
    groups: ['authentik Admins'],
  };
  if (has('email-verified-missing')) delete c.email_verified;
  if (has('missing-preferred-username')) delete c.preferred_username;
  if (has('hostile-claims')) {
    // A name that reads "admin" + "exe.png" reversed, a zero-width space, a bidi override in
    // the e-mail: what a person reading the console must see escaped.
    c.preferred_username = 'admin\u202egnp.exe\u200b';
    c.name = 'Ad\u200dmin \u2066x\u2069';
    c.email = 'akadmin\u202e@example.test';
  }
  return c;
};

const client = cfg.client;
const registeredSecret = has('invalid-client') ? `${client.secret}-regenerated` : client.secret;

const configuration = {
  clients: [
    {
      client_id: client.id,
      client_secret: registeredSecret,
      redirect_uris: client.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: client.auth_method ?? 'client_secret_basic',
    },
    // Other applications behind the same provider (Synapse beside Mastodon).
    ...(cfg.extra_clients ?? []).map((c) => ({
      client_id: c.id,
      client_secret: c.secret,
      redirect_uris: c.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: c.auth_method ?? 'client_secret_basic',
    })),
  ],
  jwks: { keys: [jwk] },
  routes: {
    authorization: '/application/o/authorize',
    token: '/application/o/token',
    userinfo: '/application/o/userinfo',
    jwks: `/application/o/${slug}/jwks`,
    end_session: `/application/o/${slug}/end-session`,
    introspection: '/application/o/introspect',
    revocation: '/application/o/revoke',
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'preferred_username', 'nickname', 'groups'],
  },
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  // authentik puts the scope claims into the ID token too (include_claims_in_id_token).
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => claimsOf() }),
  // No consent screen, as authentik's implicit-consent flow.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  interactions: {
    url: (_ctx, interaction) => {
      if (cfg.style === 'authentik') {
        const q = new URLSearchParams(interaction.params).toString();
        return `/if/flow/${FLOW}/?${q}`;
      }
      return `/interaction/${interaction.uid}`;
    },
  },
  // The executor reads the interaction cookie too (authentik's pages and API share a path).
  cookies: { keys: ['real-peer-cookie-key'], short: { path: '/' } },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => false },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  renderError: async (ctx, out) => {
    // authentik's error page shape: a title and a message.
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><head><title>authentik</title></head><body><h1>${esc(out.error)}</h1><p>${esc(out.error_description ?? '')}</p></body></html>`;
  },
};

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const provider = new Provider(issuer, configuration);
// Without X-Forwarded-Proto trust, every endpoint it builds is http:// (a provider behind a TLS
// proxy it does not trust): the http-endpoints fault.
provider.proxy = !has('http-endpoints');

// Endpoints as authentik spells them, with their trailing slash.
const SLASHED = ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
  'end_session_endpoint', 'introspection_endpoint', 'revocation_endpoint'];

async function resign(idToken, edit) {
  const header = jose.decodeProtectedHeader(idToken);
  const payload = jose.decodeJwt(idToken);
  const h = { alg: header.alg, kid: header.kid, typ: header.typ };
  let key = privateKey;
  const out = edit(payload, h) ?? {};
  if (out.key) key = out.key;
  if (h.alg === 'HS256') key = new TextEncoder().encode(client.secret);
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  return new jose.SignJWT(payload).setProtectedHeader(h).sign(key);
}

const idTokenFaults = (p, h) => {
  if (has('wrong-aud')) p.aud = 'another-application-client-id';
  if (has('wrong-iss')) p.iss = `${publicOrigin}/application/o/another-app/`;
  if (has('expired-id-token')) {
    p.iat -= 7200;
    p.exp = p.iat + 600;
  }
  if (has('iat-future')) p.iat += 3600;
  if (has('nonce-mismatch')) p.nonce = `${p.nonce}x`;
  if (has('nonce-removed')) delete p.nonce;
  if (has('at-hash-mismatch')) p.at_hash = 'AAAAAAAAAAAAAAAAAAAAAA';
  if (has('hs256-no-signing-key')) {
    h.alg = 'HS256';
    delete h.kid;
  }
  if (has('unknown-kid')) h.kid = 'rotated-away';
  if (has('wrong-key')) return { key: otherKey };
  return {};
};
const touchesIdToken = ['wrong-aud', 'wrong-iss', 'expired-id-token', 'iat-future', 'nonce-mismatch',
  'nonce-removed', 'at-hash-mismatch', 'hs256-no-signing-key', 'unknown-kid', 'wrong-key'].some(has);

// A JWT whose payload text is given as is (two members of one name cannot be built from an
// object), signed with the provider's key.
function signRaw(header, payloadText) {
  const enc = (t) => Buffer.from(t).toString('base64url');
  const input = `${enc(JSON.stringify(header))}.${enc(payloadText)}`;
  const sig = crypto.sign('RSA-SHA256', Buffer.from(input), crypto.KeyObject.from(privateKey));
  return `${input}.${sig.toString('base64url')}`;
}

// The JSON text of `obj` with `name` given a first time, before the real member.
const twice = (obj, name, first) => `{${JSON.stringify(name)}:${JSON.stringify(first)},${JSON.stringify(obj).slice(1)}`;

provider.use(async (ctx, next) => {
  await next();
  const path = ctx.path;
  if (path === '/.well-known/openid-configuration' && has('duplicate-issuer') && ctx.body && typeof ctx.body === 'object') {
    // Run after the rewrites below: registered last, so done here at the end.
    ctx.state.duplicateIssuer = true;
  }
  if (path === '/.well-known/openid-configuration' && ctx.body && typeof ctx.body === 'object') {
    const d = ctx.body;
    for (const k of SLASHED) if (typeof d[k] === 'string' && !d[k].endsWith('/')) d[k] += '/';
    if (has('discovery-issuer-no-slash')) d.issuer = d.issuer.replace(/\/$/, '');
    if (has('hs256-no-signing-key')) d.id_token_signing_alg_values_supported = ['HS256'];
    if (has('alg-unadvertised')) d.id_token_signing_alg_values_supported = ['ES256'];
  }
  if (path === `/application/o/${slug}/jwks` && has('hs256-no-signing-key')) {
    ctx.body = {}; // authentik with no signing key: exactly {}
  }
  if (path === '/application/o/token' && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
    if (touchesIdToken) ctx.body.id_token = await resign(ctx.body.id_token, idTokenFaults);
    if (has('tampered-signature')) {
      const [a, b, s] = ctx.body.id_token.split('.');
      const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      ctx.body.id_token = [a, b, flipped].join('.');
    }
  }
  if (path === '/application/o/userinfo' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    if (has('userinfo-sub-mismatch')) ctx.body.sub = crypto.createHash('sha256').update('someone-else').digest('hex');
    if (has('userinfo-email-conflict')) ctx.body.email = 'other@example.test';
    if (has('insufficient-scope')) {
      ctx.status = 403;
      ctx.set('WWW-Authenticate', 'error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token"');
      ctx.body = '';
    }
  }
  if (path === '/application/o/token' && ctx.body && typeof ctx.body === 'object' && ctx.body.id_token) {
    if (has('duplicate-iss')) {
      const header = jose.decodeProtectedHeader(ctx.body.id_token);
      const claims = jose.decodeJwt(ctx.body.id_token);
      ctx.body.id_token = signRaw(header, twice(claims, 'iss', `${publicOrigin}/application/o/another-app/`));
    }
    if (has('duplicate-id-token')) {
      ctx.type = 'application/json';
      ctx.body = twice(ctx.body, 'id_token', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJzb21lb25lLWVsc2UifQ.');
    }
  }
  if (ctx.state.duplicateIssuer) {
    ctx.type = 'application/json';
    ctx.body = twice(ctx.body, 'issuer', 'https://evil.example/application/o/mastodon/');
  }
  // The resume redirect carries the code (or the error) back to the relying party.
  const loc = ctx.response.get('location');
  if (loc && /[?&#](code|error)=/.test(loc) && has('state-altered')) {
    ctx.set('Location', loc.replace(/([?&#]state=)([^&#]*)/, '$1$2-waf'));
  }
});

// --- authentik-like flow page and executor (style "authentik") ---

const flowPage = (q) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>authentik</title></head>
<body><ak-flow-executor><form id="f"><label id="label">Username</label>
<input id="field" name="uid_field" autocomplete="username"><button id="go" type="submit">Log in</button></form>
<p id="msg"></p></ak-flow-executor>
<script>
const api = '/api/v3/flows/executor/${FLOW}/?query=' + encodeURIComponent(${JSON.stringify(q)});
let stage = null;
async function show(r) {
  const c = await r.json();
  stage = c.component;
  if (c.component === 'xak-flow-redirect') { window.location.assign(c.to); return; }
  document.getElementById('label').textContent = c.component === 'ak-stage-password' ? 'Password' : 'Username';
  const f = document.getElementById('field');
  f.value = '';
  f.name = c.component === 'ak-stage-password' ? 'password' : 'uid_field';
  f.type = c.component === 'ak-stage-password' ? 'password' : 'text';
  document.getElementById('msg').textContent = (c.response_errors && JSON.stringify(c.response_errors)) || '';
  document.body.dataset.stage = c.component;
}
fetch(api, { credentials: 'same-origin' }).then(show);
document.getElementById('f').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = document.getElementById('field');
  const body = {}; body[f.name] = f.value; body.component = stage;
  fetch(api, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(show);
});
</script></body></html>`;

const loginPage = (uid, error) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign-in</title></head>
<body><h1>Sign-in</h1><p id="msg">${esc(error ?? '')}</p>
<form method="post" action="/interaction/${uid}/login">
<input name="login" autocomplete="username"><input name="password" type="password">
<button type="submit">Sign-in</button></form></body></html>`;

const executorState = new Map(); // interaction uid -> stage reached

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...extra });
  res.end(body);
}

async function finish(req, res, uid) {
  const result = has('authorize-denied')
    ? { error: 'access_denied', error_description: 'User denied access' }
    : { login: { accountId: USER.username } };
  return provider.interactionResult(req, res, result, { mergeWithLastSubmission: false });
}

async function executor(req, res) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (e) {
    return send(res, 404, 'application/json', JSON.stringify({ detail: String(e.message) }));
  }
  const uid = details.uid;
  const stage = executorState.get(uid) ?? 'ak-stage-identification';
  const challenge = (component, extra = {}) =>
    send(res, 200, 'application/json', JSON.stringify({ component, flow_info: { title: 'Welcome to authentik!' }, ...extra }));
  if (req.method === 'GET') return challenge(stage);
  const body = JSON.parse((await readBody(req)) || '{}');
  if (stage === 'ak-stage-identification') {
    if (body.uid_field !== USER.username) return challenge(stage, { response_errors: { uid_field: [{ string: 'Failed to authenticate.', code: 'invalid' }] } });
    executorState.set(uid, 'ak-stage-password');
    return challenge('ak-stage-password');
  }
  if (body.password !== USER.password) return challenge(stage, { response_errors: { password: [{ string: 'Failed to authenticate.', code: 'invalid' }] } });
  executorState.delete(uid);
  const to = await finish(req, res, uid);
  return challenge('xak-flow-redirect', { to });
}

const handle = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://provider.internal');
    const p = url.pathname;
    // authentik's discovery path and trailing slashes, onto oidc-provider's routes.
    if (p === `/application/o/${slug}/.well-known/openid-configuration`) {
      req.url = `/.well-known/openid-configuration${url.search}`;
      return handle(req, res);
    }
    if (/^\/application\/o\/.+\/$/.test(p) && p !== '/application/o/') {
      req.url = p.slice(0, -1) + url.search;
      return handle(req, res);
    }
    if (p.startsWith(`/if/flow/${FLOW}/`) && cfg.style === 'authentik') {
      return send(res, 200, 'text/html; charset=utf-8', flowPage(url.search.slice(1)));
    }
    if (p.startsWith(`/api/v3/flows/executor/${FLOW}/`) && cfg.style === 'authentik') {
      return await executor(req, res);
    }
    const m = p.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m && cfg.style !== 'authentik') {
      const details = await provider.interactionDetails(req, res);
      if (!m[2]) return send(res, 200, 'text/html; charset=utf-8', loginPage(details.uid));
      const form = new URLSearchParams(await readBody(req));
      if (form.get('login') !== USER.username || form.get('password') !== USER.password) {
        return send(res, 200, 'text/html; charset=utf-8', loginPage(details.uid, 'Invalid credentials'));
      }
      const result = has('authorize-denied')
        ? { error: 'access_denied', error_description: 'User denied access' }
        : { login: { accountId: USER.username } };
      return await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    }
    return handle(req, res);
  } catch (e) {
    if (!res.headersSent) send(res, 500, 'text/plain', `provider error: ${e.message}`);
  }
});
server.listen(cfg.port ?? 0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
