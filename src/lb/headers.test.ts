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
    assert.deepEqual(names(up.headers).sort(), ['accept', 'host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id']);
  });

  it('review item 6: Connection never strips Host, Idempotency-Key or what we state; the key is read after the strip', () => {
    const up = upstreamRequestHeaders(
      ['Host', 'shop', 'Connection', 'Idempotency-Key, host, X-Forwarded-For, x-request-id, X-Forwarded-Host, x-mine', 'Idempotency-Key', 'k1', 'X-Mine', 'm'],
      '10.0.0.1',
    );
    assert.equal(up.hasIdempotencyKey, true);
    assert.equal(value(up.headers, 'idempotency-key'), 'k1');
    assert.equal(value(up.headers, 'host'), 'shop');
    assert.equal(value(up.headers, 'x-forwarded-for'), '10.0.0.1');
    assert.equal(value(up.headers, 'x-forwarded-host'), 'shop');
    assert.equal(value(up.headers, 'x-request-id'), up.requestId);
    assert.equal(value(up.headers, 'x-mine'), undefined);
    // Repeated Connection headers are all applied.
    const two = upstreamRequestHeaders(['Connection', 'x-a', 'X-A', '1', 'Connection', 'x-b', 'X-B', '2', 'X-C', '3'], undefined);
    assert.deepEqual(names(two.headers).sort(), ['x-c', 'x-forwarded-proto', 'x-request-id']);
  });

  it('always makes its own X-Request-Id, whatever the client sent', () => {
    const up = upstreamRequestHeaders(['X-Request-Id', 'abc', 'x-request-id', 'def'], undefined);
    assert.match(up.requestId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(up.headers.filter((_, i) => i % 2 === 0 && up.headers[i]?.toLowerCase() === 'x-request-id').length, 1);
    assert.equal(value(up.headers, 'x-request-id'), up.requestId);
  });

  it('overwrites the forwarding headers a client sent with its own address, http and its Host', () => {
    const up = upstreamRequestHeaders(
      ['Host', 'shop.example', 'X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil', 'Forwarded', 'for=1.2.3.4', 'X-Real-IP', '1.2.3.4'],
      '10.0.0.1',
    );
    assert.equal(value(up.headers, 'x-forwarded-for'), '10.0.0.1');
    assert.equal(value(up.headers, 'x-forwarded-proto'), 'http');
    assert.equal(value(up.headers, 'x-forwarded-host'), 'shop.example');
    assert.equal(value(up.headers, 'forwarded'), undefined);
    assert.equal(value(up.headers, 'x-real-ip'), undefined);
    assert.equal(names(up.headers).filter((n) => n.startsWith('x-forwarded-')).length, 3);
  });

  it('flags framing that could smuggle a request', () => {
    assert.equal(upstreamRequestHeaders(['Host', 'a'], undefined).invalid, undefined);
    assert.match(upstreamRequestHeaders(['Host', 'a', 'Host', 'b'], undefined).invalid ?? '', /Host/);
    assert.match(upstreamRequestHeaders(['Transfer-Encoding', 'gzip, chunked'], undefined).invalid ?? '', /Transfer-Encoding/);
    assert.match(upstreamRequestHeaders(['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'], undefined).invalid ?? '', /Transfer-Encoding/);
    assert.match(upstreamRequestHeaders(['Content-Length', '3', 'Transfer-Encoding', 'chunked'], undefined).invalid ?? '', /Content-Length and Transfer-Encoding/);
    assert.ok(Number.isNaN(upstreamRequestHeaders(['Content-Length', '3', 'Content-Length', '4'], undefined).contentLength));
    assert.equal(upstreamRequestHeaders(['Content-Length', '3', 'Content-Length', '3'], undefined).contentLength, 3);
  });

  it('reports body framing and the idempotency key, and leaves framing to undici', () => {
    const up = upstreamRequestHeaders(['Content-Length', '12', 'Idempotency-Key', 'k1', 'Expect', '100-continue'], undefined);
    assert.equal(up.contentLength, 12);
    assert.equal(up.hasIdempotencyKey, true);
    assert.equal(up.chunked, false);
    assert.deepEqual(names(up.headers).sort(), ['idempotency-key', 'x-forwarded-proto', 'x-request-id']);
    assert.equal(upstreamRequestHeaders(['Transfer-Encoding', 'chunked'], undefined).chunked, true);
    assert.ok(Number.isNaN(upstreamRequestHeaders(['Content-Length', '1x'], undefined).contentLength));
  });

  it('keeps repeated end-to-end headers', () => {
    const up = upstreamRequestHeaders(['Host', 'a', 'Cookie', 'x=1', 'Cookie', 'y=2'], undefined);
    assert.deepEqual(names(up.headers), ['host', 'cookie', 'cookie', 'x-request-id', 'x-forwarded-proto', 'x-forwarded-host']);
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

  it('reads the Buffers undici hands over', () => {
    const out = downstreamResponseHeaders([Buffer.from('Content-Type'), Buffer.from('text/plain'), Buffer.from('Connection'), Buffer.from('close')], 'rid');
    assert.deepEqual(out, ['Content-Type', 'text/plain', 'x-request-id', 'rid']);
  });

  it("review item 6: a backend's Connection cannot strip the X-Request-Id the client quotes", () => {
    assert.deepEqual(downstreamResponseHeaders(['Connection', 'x-request-id', 'X-Request-Id', 'app'], 'rid'), ['X-Request-Id', 'app']);
    assert.deepEqual(downstreamResponseHeaders(['Connection', 'X-Request-Id, x-own', 'X-Own', 'o'], 'rid'), ['x-request-id', 'rid']);
  });

  it('adds X-Request-Id only when the app did not echo one', () => {
    assert.equal(value(downstreamResponseHeaders([], 'rid'), 'x-request-id'), 'rid');
    const echoed = downstreamResponseHeaders(['X-Request-Id', 'app'], 'rid');
    assert.deepEqual(echoed, ['X-Request-Id', 'app']);
  });
});
