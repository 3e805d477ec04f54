import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SECRET_NAMES } from '../config/index.js';
import { secretsSchema } from './agent-types.js';

describe('the agent bundle secrets schema', () => {
  // The controller keeps every secret: a name missing here makes every deploy to hosts fail
  // ("stdin is not a DeployBundle"), as etcdRootPassword did when the etcd kind landed.
  it('accepts every secret src/config/secrets.ts knows, and only those', () => {
    assert.deepEqual(Object.keys(secretsSchema.shape).sort(), [...SECRET_NAMES].sort());
  });
});
