import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';

function names(raw: readonly string[]): string[] {
  return raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

function value(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) return raw[i + 1];
  return undefined;
}

describe('upstreamRequestHeaders', () => {
  it('strips hop-by-hop headers, including those named in Connection', () => {
    const up = upstreamRequestHeaders(
      ['Host', 'x', 'Connection', 'keep-alive, X-Hop', 'Keep-Alive', 'timeout=5', 'X-Hop', 'secret', 'TE', 'trailers', 'Accept', '*/*'],
      '10.0.0.1',
    );
    assert.deepEqual(names(up.headers).sort(), ['accept', 'host', 'x-forwarded-for', 'x-request-id']);
  });

  it('keeps a client X-Request-Id and makes one when there is none', () => {
    assert.equal(upstreamRequestHeaders(['X-Request-Id', 'abc'], undefined).requestId, 'abc');
    const made = upstreamRequestHeaders([], undefined);
    assert.match(made.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(value(made.headers, 'x-request-id'), made.requestId);
  });

  it('appends the client address to X-Forwarded-For', () => {
    const up = upstreamRequestHeaders(['X-Forwarded-For', '1.2.3.4'], '10.0.0.1');
    assert.equal(value(up.headers, 'x-forwarded-for'), '1.2.3.4, 10.0.0.1');
    assert.equal(value(upstreamRequestHeaders([], '10.0.0.1').headers, 'x-forwarded-for'), '10.0.0.1');
  });

  it('reports body framing and the idempotency key, and leaves framing to undici', () => {
    const up = upstreamRequestHeaders(['Content-Length', '12', 'Idempotency-Key', 'k1', 'Expect', '100-continue'], undefined);
    assert.equal(up.contentLength, 12);
    assert.equal(up.hasIdempotencyKey, true);
    assert.equal(up.chunked, false);
    assert.deepEqual(names(up.headers).sort(), ['idempotency-key', 'x-request-id']);
    assert.equal(upstreamRequestHeaders(['Transfer-Encoding', 'chunked'], undefined).chunked, true);
    assert.ok(Number.isNaN(upstreamRequestHeaders(['Content-Length', '1x'], undefined).contentLength));
  });

  it('keeps repeated end-to-end headers and only the first Host', () => {
    const up = upstreamRequestHeaders(['Host', 'a', 'Host', 'b', 'Cookie', 'x=1', 'Cookie', 'y=2'], undefined);
    assert.deepEqual(names(up.headers), ['host', 'cookie', 'cookie', 'x-request-id']);
    assert.equal(value(up.headers, 'host'), 'a');
  });
});

describe('downstreamResponseHeaders', () => {
  it('strips hop-by-hop headers and keeps Set-Cookie repeats and Content-Length', () => {
    const out = downstreamResponseHeaders(
      ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=72', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '3'],
      'rid',
    );
    assert.deepEqual(names(out), ['set-cookie', 'set-cookie', 'content-length', 'x-request-id']);
  });

  it('adds X-Request-Id only when the app did not echo one', () => {
    assert.equal(value(downstreamResponseHeaders([], 'rid'), 'x-request-id'), 'rid');
    const echoed = downstreamResponseHeaders(['X-Request-Id', 'app'], 'rid');
    assert.deepEqual(echoed, ['X-Request-Id', 'app']);
  });
});
