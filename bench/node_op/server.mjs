// node-oidc-provider (npm `oidc-provider` 9.x) configured like our provider, for the
// side-by-side SSO benchmark of bench/ (see docs/performance.md).
//
// One confidential client (client_secret_basic, PKCE S256 required, pairwise subject,
// RS256 ID tokens, a refresh token like ours for confidential clients), an account whose
// claims match the benchmark account of our provider, and a minimal interaction that
// logs a fixed account in and grants the requested scopes without a page: the benchmark
// measures the single-sign-on flow that follows (authorize with the session cookie ->
// token -> userinfo), not the interactions. Storage is the provider's default in-memory
// adapter (no database), or, when REDIS_URL and REDIS_PREFIX are set, the Redis adapter
// of redis_adapter.mjs (ioredis) with that key prefix.
//
// The runner copies this file next to bench/.work/node/node_modules and starts it with:
//   PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI PAIRWISE_SALT COOKIE_KEY in the environment
//   (and optionally REDIS_URL REDIS_PREFIX).
// It prints "ready <issuer>" once it listens on 127.0.0.1 only.

import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};

const PORT = Number(env('PORT'));
const ISSUER = `http://127.0.0.1:${PORT}`;
const ACCOUNT_ID = 'bench-account-0001';
const SALT = env('PAIRWISE_SALT');
const UPDATED_AT = Math.floor(Date.now() / 1000);

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rs256', use: 'sig', alg: 'RS256' };

const ACCOUNT_CLAIMS = {
  name: 'Camille Martin',
  given_name: 'Camille',
  family_name: 'Martin',
  preferred_username: 'bench.user',
  locale: 'fr-FR',
  updated_at: UPDATED_AT,
  email: 'camille.martin@example.org',
  email_verified: true,
};

const configuration = {
  clients: [{
    client_id: env('CLIENT_ID'),
    client_secret: env('CLIENT_SECRET'),
    redirect_uris: [env('REDIRECT_URI')],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
    subject_type: 'pairwise',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [env('COOKIE_KEY')] },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'locale', 'updated_at'],
    email: ['email', 'email_verified'],
  },
  subjectTypes: ['public', 'pairwise'],
  pairwiseIdentifier(ctx, accountId, client) {
    return crypto.createHash('sha256')
      .update(`${client.sectorIdentifier}|${accountId}|${SALT}`)
      .digest('base64url');
  },
  pkce: { required: () => true },
  // Like ours: confidential clients get a refresh token with every code exchange.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    RefreshToken: 2592000,
    Interaction: 1800,
    Session: 43200,
    Grant: 2592000,
  },
  async findAccount(ctx, sub) {
    if (sub !== ACCOUNT_ID) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, ...ACCOUNT_CLAIMS };
      },
    };
  },
  interactions: {
    url(ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
};

let redis;
if (process.env.REDIS_URL) {
  const { createRedisAdapter } = await import('./redis_adapter.mjs');
  const { RedisAdapter, client } = createRedisAdapter(process.env.REDIS_URL, env('REDIS_PREFIX'));
  await client.ping();
  configuration.adapter = RedisAdapter;
  redis = client;
}

const provider = new Provider(ISSUER, configuration);

// The minimal interaction: log the fixed account in, then grant what is asked.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/[^/]+$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT_ID, amr: ['pwd'] } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    if (prompt.details.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.throw(400, `unexpected prompt ${prompt.name}`);
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: true,
  });
  ctx.redirect(returnTo);
  ctx.status = 303;
});

const server = http.createServer(provider.callback());
server.listen(PORT, '127.0.0.1', () => {
  process.stdout.write(`ready ${ISSUER}\n`);
});

const stop = () => server.close(async () => {
  if (redis) await redis.quit().catch(() => {});
  process.exit(0);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
