import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChunkedDecoder, headEnd, parseResponseHead, type ResponseHead } from './upstream-parse.js';

function parse(text: string, method = 'GET'): ResponseHead {
  const buf = Buffer.from(text, 'latin1');
  const end = headEnd(buf, 0);
  assert.notEqual(end, -1, 'head complete');
  return parseResponseHead(buf, end, method);
}

describe('parseResponseHead', () => {
  it('keeps headers in order and case, and frames by Content-Length', () => {
    const h = parse('HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\nKeep-Alive: timeout=72\r\n\r\nhello');
    assert.equal(h.status, 201);
    assert.deepEqual(h.headers, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '5', 'Keep-Alive', 'timeout=72']);
    assert.deepEqual(h.framing, { kind: 'length', length: 5 });
    assert.equal(h.keepAlive, true);
    assert.equal(h.keepAliveHintMs, 72_000);
  });

  it('knows when no body follows, when it is chunked, and when it runs until close', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD').framing.kind, 'none');
    assert.equal(parse('HTTP/1.1 204 No Content\r\n\r\n').framing.kind, 'none');
    assert.equal(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n').framing.kind, 'none');
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').framing.kind, 'none');
    assert.equal(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').framing.kind, 'chunked');
    const close = parse('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n');
    assert.equal(close.framing.kind, 'close');
    assert.equal(close.keepAlive, false);
  });

  it('reuses a connection only when the backend allows it', () => {
    assert.equal(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n').keepAlive, false);
    assert.equal(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n').keepAlive, true);
  });

  it('refuses ambiguous or malformed framing instead of guessing', () => {
    const bad = [
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
      // Other codings would reach the client with their header stripped: refused, not passed on.
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n',
      'HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX-A: 1\nX-Injected: 2\r\n\r\n',
      'HTTP/2 200\r\n\r\n',
      'ICY 200 OK\r\n\r\n',
    ];
    for (const text of bad) assert.throws(() => parse(text), { code: 'UPSTREAM_BAD_RESPONSE' }, JSON.stringify(text));
  });

  it('finds the end of a head split across reads', () => {
    const buf = Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody', 'latin1');
    assert.equal(headEnd(buf.subarray(0, 18), 0), -1);
    assert.equal(headEnd(buf, 18), 19);
  });
});

describe('ChunkedDecoder', () => {
  const wire = Buffer.from('5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT', 'latin1');

  it('decodes the body wherever the reads split it, and stops at its end', () => {
    const bodyEnd = wire.length - 'NEXT'.length;
    for (let cut = 1; cut < wire.length; cut++) {
      const dec = new ChunkedDecoder();
      const out: Buffer[] = [];
      const used1 = dec.push(wire.subarray(0, cut), (c) => out.push(Buffer.from(c)));
      assert.equal(used1, Math.min(cut, bodyEnd), `cut ${cut}: a partial body is consumed whole`);
      const used2 = dec.done ? 0 : dec.push(wire.subarray(cut), (c) => out.push(Buffer.from(c)));
      assert.equal(dec.done, true, `cut ${cut}`);
      assert.equal(Buffer.concat(out).toString(), 'hello 0123456789', `cut ${cut}`);
      assert.equal(used1 + used2, bodyEnd, `cut ${cut}: bytes after the body are left`);
    }
  });

  it('refuses malformed chunk sizes and chunks longer than announced', () => {
    assert.throws(() => new ChunkedDecoder().push(Buffer.from('zz\r\n'), () => {}), { code: 'UPSTREAM_BAD_RESPONSE' });
    assert.throws(() => new ChunkedDecoder().push(Buffer.from('2\r\nabc\r\n'), () => {}), { code: 'UPSTREAM_BAD_RESPONSE' });
    assert.throws(() => new ChunkedDecoder().push(Buffer.from('2\nab\r\n'), () => {}), { code: 'UPSTREAM_BAD_RESPONSE' });
  });
});
