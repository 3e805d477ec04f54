import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRedisRole } from '../engines/index.js';
import { redisLookSchema, sentinelFailoverSchema } from './redis-admin.js';

describe('review item 7: the Redis look an agent prints reads back as it was', () => {
  it('ROLE of a master and a replica, a Sentinel naming a master and one naming none', () => {
    const printed = JSON.stringify({
      roles: {
        'a/redis': parseRedisRole(['master', 120, [['10.0.0.2', '6379', '118']]]),
        'b/redis': parseRedisRole(['slave', '10.0.0.1', 6379, 'connected', 118]),
      },
      named: { 'a/sentinel': { host: '10.0.0.1', port: 6379 }, 'c/sentinel': null },
    });
    const back = redisLookSchema.parse(JSON.parse(printed));
    assert.deepEqual(back.roles['a/redis'], { role: 'master', offset: 120, replicas: [{ host: '10.0.0.2', port: 6379, offset: 118 }] });
    assert.deepEqual(back.roles['b/redis'], { role: 'replica', master: { host: '10.0.0.1', port: 6379 }, linkState: 'connected', linkUp: true, offset: 118 });
    assert.equal(back.named['c/sentinel'], null);
    assert.throws(() => redisLookSchema.parse({ roles: { 'a/redis': { role: 'leader' } }, named: {} }));
  });

  it("a Sentinel's refusal keeps its code across the agent's JSON (INPROG counts as asked, NOGOODSLAVE is retried)", () => {
    const back = sentinelFailoverSchema.parse(JSON.parse(JSON.stringify({ refused: { code: 'NOGOODSLAVE', message: 'NOGOODSLAVE No suitable replica to promote' } })));
    assert.equal(back.refused?.code, 'NOGOODSLAVE');
    assert.deepEqual(sentinelFailoverSchema.parse(JSON.parse(JSON.stringify({}))), {});
  });
});
