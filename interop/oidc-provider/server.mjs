// node-oidc-provider on 127.0.0.1, for authkit's interop tests (issue 15).
//
//   node server.mjs [PORT]        (or PORT=... node server.mjs; 0 or nothing: a free port)
//
// Prints "listening http://127.0.0.1:PORT" on stdout once it serves; that URL
// is the issuer. Exits when stdin closes, so a test process that dies takes it
// along. Nothing here is fit for production: keys and cookie secrets are made
// fresh at every start, and the "interactions" log anyone in without asking.
//
// Clients (all registered statically):
//   cc-es256, cc-ps256, cc-eddsa  client_credentials, secret "secret"; their
//                                 access tokens are signed ES256, PS256, EdDSA
//   cc-dpop                       client_credentials, secret "secret", DPoP-bound
//                                 access tokens only (dpop_bound_access_tokens);
//                                 ES256
//   app                           public client (no secret), authorization_code
//                                 + PKCE (S256) + refresh_token, redirect URI
//                                 http://127.0.0.1/callback; access tokens PS256
//
// Resources (RFC 8707 resource indicators), JWT access tokens (typ at+jwt):
//   https://api.example.test      the audience the tests configure
//   https://other.example.test    another audience, for the refusal tests
//   http://127.0.0.1:PORT/mcp     any MCP endpoint on the loopback, scopes tools:read
//                                 and tools:call (the MCP SDK's end-to-end test, issue 16)
//
// DPoP (RFC 9449, features.dPoP): on for every client, with server-provided
// nonces required in every proof (§8): a token request whose proof has no
// nonce, or a stale one, is answered 400 use_dpop_nonce with a DPoP-Nonce
// header, as a client must handle. A token request that carries a proof gets
// a token bound to its key (cnf.jkt, token_type DPoP); cc-dpop gets nothing
// without one. Proof algorithms: the provider's default (ES256, Ed25519,
// EdDSA).
//
// The authorization-code flow completes without a browser: GET /interaction/UID
// logs in the account named by the authorization request's login_hint
// (default "alice") and, at the consent prompt, grants everything asked for.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const API = 'https://api.example.test';
const OTHER = 'https://other.example.test';
const RESOURCES = {
  [API]: { scope: 'api:read api:write demo:read' }, // demo:read: the demo's /api/scoped
  [OTHER]: { scope: 'other:read' },
};
// An MCP server of the tests: its endpoint on the loopback, any port.
const MCP_LOOPBACK = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}\/mcp$/;
const MCP_RESOURCE = { scope: 'tools:read tools:call' };
const ACCESS_TOKEN_TTL = 300; // seconds; the tests read it as the lifetime of access tokens

// The signing algorithm of each client's access tokens.
const CLIENT_ALG = {
  'cc-es256': 'ES256',
  'cc-ps256': 'PS256',
  'cc-eddsa': 'EdDSA',
  'cc-dpop': 'ES256',
  app: 'PS256',
};

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const jwks = {
  keys: [
    jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256-1'),
    jwk('rsa', { modulusLength: 2048 }, 'PS256', 'ps256-1'),
    jwk('ed25519', {}, 'EdDSA', 'eddsa-1'),
  ],
};

const arg = process.argv[2] ?? process.env.PORT ?? '0';
const port = Number.parseInt(arg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${JSON.stringify(arg)}`);
  process.exit(2);
}

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const ccClient = (clientId) => ({
  client_id: clientId,
  client_secret: 'secret',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(issuer, {
  clients: [
    ccClient('cc-es256'),
    ccClient('cc-ps256'),
    ccClient('cc-eddsa'),
    { ...ccClient('cc-dpop'), dpop_bound_access_tokens: true },
    {
      client_id: 'app',
      application_type: 'native', // an http loopback redirect URI
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks,
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'api:read', 'api:write', 'demo:read', 'other:read', 'tools:read', 'tools:call'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  interactions: {
    url(_ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  features: {
    devInteractions: { enabled: false },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32), // fresh at every start, as the other secrets
      requireNonce: () => true,
    },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter, tokens are for the API.
      async defaultResource() {
        return API;
      },
      // A refresh, or a code exchange without a resource, gets a token for the granted resource.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(_ctx, resourceIndicator, client) {
        const rs = RESOURCES[resourceIndicator] ?? (MCP_LOOPBACK.test(resourceIndicator) ? MCP_RESOURCE : undefined);
        if (!rs) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          ...rs,
          audience: resourceIndicator,
          accessTokenTTL: ACCESS_TOKEN_TTL,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: CLIENT_ALG[client.clientId] ?? 'ES256' } },
        };
      },
    },
  },
  // Refresh tokens for offline_access, rotated at every use.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    ClientCredentials: ACCESS_TOKEN_TTL,
    Grant: 3600,
    IdToken: 300,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
});

// The scripted interactions: no page, no form, just the provider's own
// interaction API.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  let result;
  switch (prompt.name) {
    case 'login':
      result = { login: { accountId: String(params.login_hint || 'alice') } };
      break;
    case 'consent': {
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
      break;
    }
    default:
      result = { error: 'access_denied', error_description: `unhandled prompt ${prompt.name}` };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && /^\/interaction\/[^/]+$/.test(req.url.split('?')[0])) {
    interaction(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) {
        res.statusCode = 400;
        res.setHeader('Content-Type', 'text/plain');
      }
      res.end(String(err.message ?? err));
    });
    return;
  }
  callback(req, res);
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();

console.log(`listening ${issuer}`);
