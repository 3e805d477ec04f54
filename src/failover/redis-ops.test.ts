import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateSecrets, parseConfig, resolveTopology } from '../config/index.js';
import { parseRedisRole } from '../engines/index.js';
import type { FailoverEnv, RedisLook, SentinelFailoverAnswer } from './context.js';
import { requestRedisFailover } from './redis-ops.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-redis-ops-unit-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const topo = resolveTopology(
  parseConfig({
    cluster: 'redisops',
    nodes: [
      { name: 'n1', services: ['mariadb', 'redis', 'sentinel', 'app', 'lb'] },
      { name: 'n2', services: ['mariadb', 'redis', 'sentinel'] },
      { name: 'n3', services: ['sentinel'] },
    ],
  }),
  { stateRoot: fs.mkdtempSync(path.join(root, 's-')), configDir: root },
);
const secrets = loadOrCreateSecrets(topo.stateDir);
const n1 = topo.services.find((s) => s.id === 'n1/redis');
const asReplica = parseRedisRole(['slave', n1?.address ?? '', n1?.port ?? 0, 'connect', 100]);
const asMaster = parseRedisRole(['master', 120, []]);

describe('the redis step of a failover', () => {
  it('Sentinels that failed over by themselves while asked (NOGOODSLAVE about their new master) count as done, not as a failure', async () => {
    let promoted = false;
    const asked: string[] = [];
    const env: FailoverEnv = {
      topo,
      secrets,
      redisAdmin: {
        look: (): Promise<RedisLook> => Promise.resolve({ roles: new Map([['n2/redis', promoted ? asMaster : asReplica]]), named: new Map() }),
        sentinelFailover: (s): Promise<SentinelFailoverAnswer> => {
          asked.push(s.id);
          // Their own failover (ODOWN, quorum) promotes n2 after the first refusal.
          promoted = true;
          return Promise.resolve({ refused: { code: 'NOGOODSLAVE', message: 'NOGOODSLAVE No suitable replica to promote' } });
        },
      },
    };
    const said = await requestRedisFailover(env, 'n1', 'n2');
    assert.match(said, /the sentinels failed it over by themselves to n2/);
    assert.deepEqual(asked, ['n2/sentinel', 'n3/sentinel'], 'the target node first, once each');
  });
});
