/**
 * Differential test of the upstream response parser (upstream-parse.ts, through the real client of
 * upstream.ts) against Node's own parser, llhttp (through node:http's client): the same generated
 * byte streams, valid and malicious, sent by a raw TCP server split at random points, to both.
 *
 * The rule checked: wherever ours accepts a response, llhttp accepts it too and reads the same
 * status, headers and body; a well-formed response is accepted; ours refuses where llhttp accepts
 * only in the classes where it is stricter on purpose (upstream-parse.ts lists them), which the
 * generator marks. Seeded (HASTACK_DIFF_SEED; the seed is in every failure message) and bounded
 * (HASTACK_DIFF_CASES, default 300).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { UpstreamPool, type UpstreamAttempt, type UpstreamHandler } from './upstream.js';
import { seededRandom } from '../shared/random.js';

// The review tests' block (127.0.203.x); .250 is used by nothing else.
const HOST = '127.0.203.250';
const SEED = Number(process.env.HASTACK_DIFF_SEED ?? 170_012);
const CASES = Number(process.env.HASTACK_DIFF_CASES ?? 300);
/** Test-only bound on one parse (loopback answers take milliseconds; behaviour, not timing). */
const CASE_TIMEOUT_MS = 5_000;

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  str(alphabet: string, min: number, max: number): string {
    let s = '';
    const n = min + this.int(max - min + 1);
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const VCHAR = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
const OBS_TEXT = Array.from({ length: 0x80 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
const QDTEXT = VCHAR.replace('"', '').replace('\\', '') + ' \t' + OBS_TEXT.slice(0, 16);
const NAMES = ['Content-Type', 'Set-Cookie', 'Cache-Control', 'Vary', 'ETag', 'X-Request-Id', 'Location', 'Keep-Alive', 'Date', 'Server'];

interface Case {
  readonly bytes: string;
  readonly label: string;
  /** A well-formed response: ours must accept it. */
  readonly valid: boolean;
  /** A class where ours refuses on purpose and llhttp is lenient. */
  readonly stricter: boolean;
}

interface Parts {
  status: string;
  headers: Array<[string, string]>;
  framing: 'length' | 'chunked' | 'close' | 'none';
  body: string;
  chunks: string[];
  trailers: string[];
  interim: string;
}

function value(g: Gen): string {
  const inner = g.str(VCHAR + VCHAR + '  \t' + OBS_TEXT.slice(0, 8), 0, 24);
  // Optional whitespace around it, which both parsers drop; none inside the ends.
  const core = inner.replace(/^[ \t]+|[ \t]+$/g, '');
  return g.pick(['', ' ', '  ', '\t', ' \t']) + core + g.pick(['', '', ' ', '\t']);
}

function chunkExt(g: Gen): string {
  let ext = '';
  const n = g.pick([0, 0, 0, 1, 2]);
  for (let i = 0; i < n; i++) {
    ext += ';' + g.str(TCHAR, 1, 6);
    const kind = g.int(3);
    if (kind === 1) ext += '=' + g.str(TCHAR, 1, 6);
    if (kind === 2) ext += '="' + g.str(QDTEXT, 0, 8) + '"';
  }
  return ext;
}

function validParts(g: Gen): Parts {
  const code = g.pick([200, 200, 200, 201, 204, 304, 404, 500, 503]);
  const reason = g.pick(['OK', 'Fine Thing', '', 'Caf\xe9', 'tab\there']);
  const status = `HTTP/1.${g.pick([1, 1, 1, 0])} ${code}${reason === '' && g.chance(0.5) ? '' : ' ' + reason}`;
  const headers: Array<[string, string]> = [];
  const n = g.int(6);
  for (let i = 0; i < n; i++) headers.push([g.chance(0.5) ? g.pick(NAMES) : g.str(TCHAR, 1, 12), value(g)]);
  if (g.chance(0.2)) headers.push(['Connection', g.pick(['close', 'keep-alive', 'Keep-Alive'])]);
  const noBody = code === 204 || code === 304;
  const http10 = status.startsWith('HTTP/1.0');
  let framing: Parts['framing'] = noBody ? 'none' : g.pick(['length', 'length', 'chunked', 'chunked', 'close']);
  if (http10 && framing === 'chunked') framing = 'length';
  const body = framing === 'none' ? '' : g.str(VCHAR + '\r\n\x00\xff', 0, 40);
  const chunks: string[] = [];
  const trailers: string[] = [];
  if (framing === 'length') headers.splice(g.int(headers.length + 1), 0, ['Content-Length', `${g.pick(['', '', '', '0'])}${body.length}`]);
  if (framing === 'chunked') {
    headers.splice(g.int(headers.length + 1), 0, ['Transfer-Encoding', g.pick(['chunked', 'Chunked', ' chunked ', 'CHUNKED'])]);
    for (let at = 0; at < body.length;) {
      const size = 1 + g.int(body.length - at);
      chunks.push(body.slice(at, at + size));
      at += size;
    }
    if (g.chance(0.3)) trailers.push(`${g.str(TCHAR, 1, 8)}:${value(g)}`);
  }
  const interim = g.chance(0.1) ? g.pick(['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n']) : '';
  return { status, headers, framing, body, chunks, trailers, interim };
}

function hex(g: Gen, n: number): string {
  const h = n.toString(16);
  return g.pick(['', '', '0', '00']) + (g.chance(0.3) ? h.toUpperCase() : h);
}

function render(g: Gen, p: Parts, sizeLine?: (size: string, ext: string) => string, trailerLines?: string[]): string {
  const [head, body] = renderParts(g, p, sizeLine, trailerLines);
  return head + body;
}

/** The head (interim answer included) and the body as sent, apart. */
function renderParts(g: Gen, p: Parts, sizeLine?: (size: string, ext: string) => string, trailerLines?: string[]): [string, string] {
  let head = p.interim + p.status + '\r\n';
  for (const [n, v] of p.headers) head += `${n}:${v}\r\n`;
  head += '\r\n';
  let out = '';
  if (p.framing === 'chunked') {
    for (const c of p.chunks) {
      const size = hex(g, c.length);
      const ext = chunkExt(g);
      out += (sizeLine ? sizeLine(size, ext) : size + ext) + '\r\n' + c + '\r\n';
    }
    out += '0' + chunkExt(g) + '\r\n';
    for (const t of trailerLines ?? p.trailers) out += t + '\r\n';
    out += '\r\n';
  } else out += p.body;
  return [head, out];
}

/** Inserts `what` into the value of a random header (the first if `at` is 0). */
function intoValue(g: Gen, p: Parts, what: (v: string) => string): void {
  if (p.headers.length === 0) p.headers.push(['X-Added', 'v']);
  const i = g.int(p.headers.length);
  const h = p.headers[i] as [string, string];
  p.headers[i] = [h[0], what(h[1])];
}

type Mutation = (g: Gen, p: Parts) => { bytes: string; stricter: boolean; label: string };

const MUTATIONS: Mutation[] = [
  (g, p) => {
    intoValue(g, p, (v) => `${v}\r\n${g.pick([' ', '\t'])}folded`);
    return { bytes: render(g, p), stricter: false, label: 'obs-fold' };
  },
  (g, p) => {
    const c = g.pick(['\r', '\n', '\x00', '\x0b', '\x0c', '\x01', '\x7f', '\x1b']);
    intoValue(g, p, (v) => (g.chance(0.5) ? `${v}${c}` : `${c}${v}`));
    return { bytes: render(g, p), stricter: false, label: `control ${JSON.stringify(c)} at the edge of a value` };
  },
  (g, p) => {
    const c = g.pick(['\r', '\n', '\x00', '\x01', '\x7f']);
    intoValue(g, p, (v) => `a${c}b${v}`);
    return { bytes: render(g, p), stricter: false, label: `control ${JSON.stringify(c)} inside a value` };
  },
  (g, p) => {
    const c = g.pick([' ', '\t', '\x00', '\r', '\n', '(', '"', '\x7f', '\xe9']);
    p.headers.splice(g.int(p.headers.length + 1), 0, [g.chance(0.5) ? `X-A${c}` : `X${c}A`, 'v']);
    return { bytes: render(g, p), stricter: false, label: `${JSON.stringify(c)} in a name` };
  },
  (g, p) => {
    const same = g.chance(0.5);
    const parts = { ...p, framing: 'length' as const, status: 'HTTP/1.1 200 OK' };
    parts.headers = [
      ...p.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)),
      ['Content-Length', String(p.body.length)],
      ['Content-Length', same ? String(p.body.length) : String(p.body.length + 1)],
    ];
    return { bytes: render(g, parts), stricter: false, label: `Content-Length twice (${same ? 'same' : 'different'})` };
  },
  (g, p) => {
    const parts = { ...p, framing: 'chunked' as const, chunks: p.body === '' ? [] : [p.body], status: p.status.replace('HTTP/1.0', 'HTTP/1.1') };
    parts.headers = [...p.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)), ['Transfer-Encoding', 'chunked'], ['Content-Length', String(p.body.length)]];
    return { bytes: render(g, parts), stricter: false, label: 'Transfer-Encoding with Content-Length' };
  },
  (g, p) => {
    // Codings other than one chunked, on one line or split over two: llhttp frames these by the
    // last coding (chunked, or until close); ours refuses them.
    const te = g.pick([['chunked', 'gzip'], ['gzip', 'chunked'], ['chunked', 'chunked'], ['gzip'], ['identity'], ['chunked, gzip'], ['gzip, chunked']]);
    const parts = { ...p, framing: 'chunked' as const, chunks: p.body === '' ? [] : [p.body], status: p.status.replace('HTTP/1.0', 'HTTP/1.1') };
    parts.headers = [...p.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)), ...te.map((v): [string, string] => ['Transfer-Encoding', v])];
    // Not chunked by the last coding: the body is read until close by llhttp.
    return { bytes: render(g, parts), stricter: true, label: `Transfer-Encoding ${JSON.stringify(te)}` };
  },
  (g, p) => {
    if (p.framing !== 'chunked') return { bytes: render(g, p), stricter: false, label: 'unchanged (not chunked)' };
    const bad = g.pick([' ', '\t', '\xa0', '\x0b']);
    const where = g.int(3);
    const mk = (size: string, ext: string): string => (where === 0 ? bad + size + ext : where === 1 ? size + bad + ext : size + ext + bad);
    return { bytes: render(g, p, mk), stricter: false, label: `${JSON.stringify(bad)} around a chunk size` };
  },
  (g, p) => {
    if (p.framing !== 'chunked') return { bytes: render(g, p), stricter: false, label: 'unchanged (not chunked)' };
    const junk = g.pick(['0x', '+', '-', 'g', 'z']);
    return { bytes: render(g, p, (size, ext) => junk + size + ext), stricter: false, label: `chunk size with ${JSON.stringify(junk)}` };
  },
  (g, p) => {
    if (p.framing !== 'chunked') return { bytes: render(g, p), stricter: false, label: 'unchanged (not chunked)' };
    // llhttp refuses whitespace and controls in extensions; it accepts empty names and values.
    const ext = g.pick([';a=b c', '; a=b', ';a =b', ';a=\x01', ';a="b\x00"', ';a=b;']);
    const lenient = g.pick([';;a', ';=b', ';a=']);
    const useLenient = g.chance(0.4);
    return {
      bytes: render(g, p, (size) => size + (useLenient ? lenient : ext)),
      stricter: useLenient,
      label: `chunk extension ${JSON.stringify(useLenient ? lenient : ext)}`,
    };
  },
  (g, p) => {
    if (p.framing !== 'chunked') return { bytes: render(g, p), stricter: false, label: 'unchanged (not chunked)' };
    const t = g.pick(['NoColon', 'X: a\x01', 'X : a', ' X: a', 'X: a\r\n folded']);
    return { bytes: render(g, p, undefined, [t]), stricter: false, label: `trailer ${JSON.stringify(t)}` };
  },
  (g, p) => {
    // A bare LF where a line must end with CRLF.
    const text = render(g, p);
    const at: number[] = [];
    for (let i = text.indexOf('\r\n'); i >= 0; i = text.indexOf('\r\n', i + 1)) at.push(i);
    const i = g.pick(at.slice(0, Math.max(1, at.length - 1)));
    return { bytes: text.slice(0, i) + text.slice(i + 1), stricter: false, label: 'a bare LF' };
  },
  (g, p) => {
    const line = g.pick(['HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'http/1.1 200 OK', 'HTTP/2 200', 'HTTP/1.1 20 OK', 'HTTP/1.2 200 OK', 'HTTP/1.1 200OK']);
    return { bytes: render(g, { ...p, status: line }), stricter: false, label: `status line ${JSON.stringify(line)}` };
  },
  (g, p) => {
    // Accepted by llhttp, refused by ours: controls in the reason, a status below 100, 101.
    const line = g.pick(['HTTP/1.1 200 O\x01K', 'HTTP/1.1 200 O\x7fK', 'HTTP/1.1 099 Low', 'HTTP/1.1 101 Switching Protocols']);
    return { bytes: render(g, { ...p, status: line }), stricter: true, label: `status line ${JSON.stringify(line)}` };
  },
  (g, p) => {
    const v = g.pick(['+5', '5,5', '0x5', '1e2', '-1', '5 5', '99999999999999999999']);
    const parts = { ...p, framing: 'length' as const };
    parts.headers = [...p.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)), ['Content-Length', v]];
    return { bytes: render(g, parts), stricter: false, label: `Content-Length ${JSON.stringify(v)}` };
  },
  (g, p) => {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing; llhttp decodes it.
    const parts = { ...p, framing: 'chunked' as const, chunks: p.body === '' ? [] : [p.body], status: 'HTTP/1.0 200 OK' };
    parts.headers = [...p.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)), ['Transfer-Encoding', 'chunked']];
    return { bytes: render(g, parts), stricter: true, label: 'HTTP/1.0 with Transfer-Encoding' };
  },
  (g, p) => {
    // Cut short: the backend closes before the body it announced is complete.
    const [head, body] = renderParts(g, p);
    if (p.framing === 'close' || p.framing === 'none' || body.length === 0) return { bytes: head + body, stricter: false, label: 'unchanged (nothing to cut)' };
    return { bytes: head + body.slice(0, g.int(body.length)), stricter: false, label: 'body cut short' };
  },
];

function generate(g: Gen): Case {
  const p = validParts(g);
  if (g.chance(0.4)) return { bytes: render(g, p), label: 'valid', valid: true, stricter: false };
  const m = g.pick(MUTATIONS)(g, p);
  return { bytes: m.bytes, label: m.label, valid: false, stricter: m.stricter };
}

interface Outcome {
  readonly ok: boolean;
  readonly status?: number;
  readonly headers?: string[];
  readonly body?: string;
  readonly error?: string;
}

/** A raw server that answers each connection with the current case's bytes, in the current pieces. */
class Scripted {
  pieces: Buffer[] = [];
  private readonly server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => {});
    let head = '';
    let started = false;
    const pieces = this.pieces;
    s.on('data', (d: Buffer) => {
      if (started) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      started = true;
      let i = 0;
      // One piece per tick of a few ms, so the client reads them apart.
      const next = (): void => {
        if (s.destroyed) return;
        if (i >= pieces.length) {
          s.end();
          return;
        }
        s.write(pieces[i++] as Buffer);
        setTimeout(next, 2);
      };
      next();
    });
  });
  port = 0;
  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, HOST, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

class Collect implements UpstreamHandler {
  status = 0;
  headers: string[] = [];
  chunks: Buffer[] = [];
  constructor(private readonly done: (o: Outcome) => void) {}
  onStart(_a: UpstreamAttempt): void {}
  onHeaders(status: number, headers: string[]): void {
    this.status = status;
    this.headers = headers;
  }
  onData(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    return true;
  }
  onComplete(last: Buffer | undefined): void {
    if (last !== undefined) this.chunks.push(Buffer.from(last));
    this.done({ ok: true, status: this.status, headers: this.headers, body: Buffer.concat(this.chunks).toString('latin1') });
  }
  onError(err: Error): void {
    this.done({ ok: false, error: `${(err as { code?: string }).code ?? ''} ${err.message}` });
  }
}

function bounded(p: Promise<Outcome>, who: string): Promise<Outcome> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<Outcome>((resolve) => {
      t = setTimeout(() => resolve({ ok: false, error: `${who}: no outcome within ${CASE_TIMEOUT_MS} ms` }), CASE_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(t));
}

function ours(port: number): Promise<Outcome> {
  const pool = new UpstreamPool(HOST, port, {
    maxConnections: 1,
    maxQueue: 1,
    queueTimeoutMs: CASE_TIMEOUT_MS,
    keepAliveMs: 1_000,
    connectTimeoutMs: 1_000,
    headersTimeoutMs: CASE_TIMEOUT_MS,
    bodyTimeoutMs: CASE_TIMEOUT_MS,
    maxHeaderBytes: 16 * 1024,
  });
  const p = new Promise<Outcome>((resolve) => pool.dispatch({ method: 'GET', path: '/x', headers: ['host', 'diff'], body: undefined }, new Collect(resolve)));
  return bounded(p, 'ours').finally(() => pool.destroy());
}

function llhttp(port: number): Promise<Outcome> {
  const p = new Promise<Outcome>((resolve) => {
    let settled = false;
    const done = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    const req = http.get({ host: HOST, port, path: '/x', agent: false, headers: { host: 'diff' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.complete) done({ ok: true, status: res.statusCode ?? 0, headers: res.rawHeaders, body: Buffer.concat(chunks).toString('latin1') });
        else done({ ok: false, error: 'incomplete' });
      });
      res.on('aborted', () => done({ ok: false, error: 'aborted' }));
      res.on('error', (e) => done({ ok: false, error: `${(e as { code?: string }).code ?? ''} ${e.message}` }));
    });
    req.on('error', (e) => done({ ok: false, error: `${(e as { code?: string }).code ?? ''} ${e.message}` }));
  });
  return bounded(p, 'llhttp');
}

/** 0–4 random cut points: the pieces the server writes one at a time. */
function split(g: Gen, bytes: Buffer): Buffer[] {
  const cuts = new Set<number>();
  const n = g.int(5);
  for (let i = 0; i < n && bytes.length > 1; i++) cuts.add(1 + g.int(bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of sorted) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('review item 12: the upstream response parser against llhttp', () => {
  const server = new Scripted();
  before(() => server.listen());
  after(() => server.close());

  it(`review item 12: agrees with Node's parser on ${CASES} generated responses split at random points (seed ${SEED})`, async () => {
    const g = new Gen(seededRandom(SEED));
    const tally = { bothAccept: 0, bothRefuse: 0, stricter: 0 };
    for (let i = 0; i < CASES; i++) {
      const c = generate(g);
      const bytes = Buffer.from(c.bytes, 'latin1');
      const pieces = split(g, bytes);
      server.pieces = pieces;
      const a = await ours(server.port);
      const b = await llhttp(server.port);
      const where = `seed ${SEED} case ${i} (${c.label}): ${JSON.stringify(c.bytes)} in pieces of ${JSON.stringify(pieces.map((x) => x.length))}; ours ${JSON.stringify(a)}, llhttp ${JSON.stringify(b)}`;
      if (c.valid) assert.equal(a.ok, true, `a well-formed response was refused: ${where}`);
      if (a.ok) {
        assert.equal(b.ok, true, `ours accepted what llhttp refuses: ${where}`);
        assert.deepEqual({ status: a.status, headers: a.headers, body: a.body }, { status: b.status, headers: b.headers, body: b.body }, `read differently: ${where}`);
        tally.bothAccept += 1;
      } else if (b.ok) {
        assert.equal(c.stricter, true, `ours refused what llhttp accepts, outside the classes where it is stricter on purpose: ${where}`);
        tally.stricter += 1;
      } else tally.bothRefuse += 1;
    }
    if (process.env.HASTACK_DIFF_TALLY) console.log(JSON.stringify(tally));
    // The generator must exercise every side, or the comparison proves little.
    assert.ok(tally.bothAccept > CASES / 4 && tally.bothRefuse > CASES / 10 && tally.stricter > 0, `seed ${SEED}: ${JSON.stringify(tally)}`);
  });
});
