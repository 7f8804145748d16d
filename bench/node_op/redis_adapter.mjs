// A Redis adapter for node-oidc-provider 9 on `ioredis`, for the benchmark of bench/:
// the production-shaped storage that node-oidc-provider's documentation points to (the
// adapter example of its repository, `example/adapters/redis.js`), written again here
// as an ES module with the same storage layout:
//
// - every model instance is one key `<Model>:<id>` with the provider's expiry as TTL;
//   models that can be consumed (codes, refresh tokens, ...) are a hash
//   { payload: JSON, consumed: epoch } so that `consume` is one HSET, the others a JSON
//   string;
// - `grant:<grantId>` is a list of the keys issued under a grant (for revokeByGrantId),
//   whose TTL is raised to the longest member's;
// - `uid:<uid>` (sessions) and `userCode:<code>` (device flow) are secondary indexes
//   holding the id.
//
// Every key lives under the prefix given by the runner (ioredis `keyPrefix`), one per
// benchmark run, so that the run's keys can be deleted afterwards without touching the
// rest of a shared Redis.

import Redis from 'ioredis';

const CONSUMABLE = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
  'PreAuthorizedCode',
]);

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const grantKey = (grantId) => `grant:${grantId}`;
const uidKey = (uid) => `uid:${uid}`;
const userCodeKey = (userCode) => `userCode:${userCode}`;

export function createRedisAdapter(url, keyPrefix) {
  const client = new Redis(url, { keyPrefix, maxRetriesPerRequest: 3 });

  class RedisAdapter {
    constructor(name) {
      this.name = name;
      this.consumable = CONSUMABLE.has(name);
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const multi = client.multi();
      if (this.consumable) {
        multi.hset(key, { payload: JSON.stringify(payload) });
      } else {
        multi.set(key, JSON.stringify(payload));
      }
      if (expiresIn) multi.expire(key, expiresIn);

      if (GRANTABLE.has(this.name) && payload.grantId) {
        const gkey = grantKey(payload.grantId);
        multi.rpush(gkey, key);
        const ttl = await client.ttl(gkey);
        if (expiresIn > ttl) multi.expire(gkey, expiresIn);
      }
      if (payload.userCode) {
        multi.set(userCodeKey(payload.userCode), id);
        multi.expire(userCodeKey(payload.userCode), expiresIn);
      }
      if (payload.uid) {
        multi.set(uidKey(payload.uid), id);
        multi.expire(uidKey(payload.uid), expiresIn);
      }
      await multi.exec();
    }

    async find(id) {
      if (!id) return undefined;
      if (this.consumable) {
        const data = await client.hgetall(this.key(id));
        if (!data || !data.payload) return undefined;
        const { payload, ...rest } = data;
        const found = { ...rest, ...JSON.parse(payload) };
        if (found.consumed !== undefined) found.consumed = Number(found.consumed);
        return found;
      }
      const data = await client.get(this.key(id));
      return data ? JSON.parse(data) : undefined;
    }

    async findByUid(uid) {
      return this.find(await client.get(uidKey(uid)));
    }

    async findByUserCode(userCode) {
      return this.find(await client.get(userCodeKey(userCode)));
    }

    async destroy(id) {
      await client.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const gkey = grantKey(grantId);
      const keys = await client.lrange(gkey, 0, -1);
      const multi = client.multi();
      for (const key of keys) multi.del(key);
      multi.del(gkey);
      await multi.exec();
    }

    async consume(id) {
      await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
    }
  }

  return { RedisAdapter, client };
}

export default createRedisAdapter;
