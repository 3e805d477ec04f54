import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { classifyUpstreamError, createRetryPolicy, isIdempotentMethod } from './retry.js';
import { UPSTREAM_CODES, UpstreamError } from './upstream.js';
import { ResponseParseError } from './upstream-parse.js';

function err(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('classifyUpstreamError', () => {
  it('sorts upstream client and socket errors by what they imply about the request', () => {
    assert.equal(classifyUpstreamError(err('ECONNREFUSED')), 'connect');
    assert.equal(classifyUpstreamError(err('UPSTREAM_CONNECT_TIMEOUT')), 'connect');
    assert.equal(classifyUpstreamError(err('UPSTREAM_POOL_CLOSED')), 'connect');
    assert.equal(classifyUpstreamError(err('UPSTREAM_QUEUE_FULL')), 'busy');
    assert.equal(classifyUpstreamError(err('UPSTREAM_QUEUE_TIMEOUT')), 'busy');
    assert.equal(classifyUpstreamError(err('UPSTREAM_CLOSED')), 'reset');
    assert.equal(classifyUpstreamError(err('ECONNRESET')), 'reset');
    assert.equal(classifyUpstreamError(err('UPSTREAM_HEADERS_TIMEOUT')), 'timeout');
    assert.equal(classifyUpstreamError(err('UPSTREAM_BODY_TIMEOUT')), 'timeout');
    assert.equal(classifyUpstreamError(err('UPSTREAM_BAD_RESPONSE')), 'other');
    assert.equal(classifyUpstreamError(err('UPSTREAM_ABORTED')), 'other');
    assert.equal(classifyUpstreamError(new Error('no code')), 'other');
    assert.equal(classifyUpstreamError('a string'), 'other');
  });

  it('looks at the cause when the error itself has no code', () => {
    assert.equal(classifyUpstreamError(new Error('wrapped', { cause: err('ECONNREFUSED') })), 'connect');
  });
});

describe("the upstream client's errors", () => {
  it('are HastackErrors with stable codes, sorted by the retry policy like before', () => {
    const kinds = {
      connectTimeout: 'connect',
      poolClosed: 'connect',
      queueFull: 'busy',
      queueTimeout: 'busy',
      closed: 'reset',
      headersTimeout: 'timeout',
      bodyTimeout: 'timeout',
      aborted: 'other',
    } as const;
    for (const [name, code] of Object.entries(UPSTREAM_CODES)) {
      const e = new UpstreamError(code, 'test');
      assert.ok(e instanceof HastackError, name);
      assert.equal(e.code, ErrorCode[code], name);
      assert.equal(classifyUpstreamError(e), kinds[name as keyof typeof kinds], name);
    }
    const bad = new ResponseParseError('malformed status line');
    assert.ok(bad instanceof HastackError);
    assert.equal(bad.code, ErrorCode.UPSTREAM_BAD_RESPONSE);
    assert.equal(classifyUpstreamError(bad), 'other');
  });
});

describe('isIdempotentMethod', () => {
  it('knows the RFC 9110 idempotent methods', () => {
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) assert.equal(isIdempotentMethod(m), true, m);
    for (const m of ['POST', 'PATCH', 'CONNECT']) assert.equal(isIdempotentMethod(m), false, m);
  });
});

describe('default retry policy', () => {
  const policy = createRetryPolicy({ retries: 2, deadlineMs: 10_000 });
  const post = { method: 'POST', hasIdempotencyKey: false };
  const keyedPost = { method: 'POST', hasIdempotencyKey: true };
  const get = { method: 'GET', hasIdempotencyKey: false };

  it('retries a request that never reached a backend, whatever its method', () => {
    assert.equal(policy.mayRetry('connect', post, 1, 0), true);
    assert.equal(policy.mayRetry('connect', get, 1, 0), true);
  });

  it('retries a request a busy backend never took, whatever its method (review item 11)', () => {
    assert.equal(policy.mayRetry('busy', post, 1, 0), true);
  });

  it('retries a reset only for idempotent or keyed requests', () => {
    assert.equal(policy.mayRetry('reset', get, 1, 0), true);
    assert.equal(policy.mayRetry('reset', keyedPost, 1, 0), true);
    assert.equal(policy.mayRetry('reset', post, 1, 0), false);
  });

  it('retries an attempt aborted on a frozen backend only for idempotent or keyed requests', () => {
    assert.equal(policy.mayRetry('stalled', get, 1, 0), true);
    assert.equal(policy.mayRetry('stalled', keyedPost, 1, 0), true);
    assert.equal(policy.mayRetry('stalled', post, 1, 0), false);
    // A quick 503 (proxy.ts): the backend may have acted on it, like a reset.
    assert.equal(policy.mayRetry('unavailable', get, 1, 0), true);
    assert.equal(policy.mayRetry('unavailable', keyedPost, 1, 0), true);
    assert.equal(policy.mayRetry('unavailable', post, 1, 0), false);
  });

  it('never retries timeouts or other failures', () => {
    assert.equal(policy.mayRetry('timeout', get, 1, 0), false);
    assert.equal(policy.mayRetry('other', get, 1, 0), false);
  });

  it('stops after `retries` extra attempts or past the deadline', () => {
    assert.equal(policy.mayRetry('connect', get, 2, 0), true);
    assert.equal(policy.mayRetry('connect', get, 3, 0), false);
    assert.equal(policy.mayRetry('connect', get, 1, 10_000), false);
  });
});
