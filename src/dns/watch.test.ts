import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRefused } from './watch.js';

describe('lb watcher: a refused probe', () => {
  it('is told apart from a lost one (a refused connection pulls the LB at once, a timeout needs two)', () => {
    assert.equal(isRefused(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8080'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isRefused(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })), true);
    assert.equal(isRefused(Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), false);
    assert.equal(isRefused(new DOMException('timeout', 'TimeoutError')), false);
    assert.equal(isRefused('ECONNREFUSED'), false);
  });
});
