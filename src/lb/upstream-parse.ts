/**
 * The response side of HTTP/1.1 for the upstream client (upstream.ts): parsing a response head and
 * decoding a chunked body. Pure functions over Buffers, no I/O.
 *
 * Strict on purpose: anything ambiguous in framing (both Content-Length and Transfer-Encoding,
 * differing Content-Lengths, folded header lines, a status line that is not HTTP/1.x) is an error,
 * never a guess, because a proxy that frames a response differently from the backend can be made
 * to mix two clients' responses (response splitting, RFC 9112 §6.3, §11.2).
 */

/** How the body after a response head is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  /** No length given: the body runs until the backend closes the connection. */
  | { readonly kind: 'close' };

export interface ResponseHead {
  readonly status: number;
  /** Flat `[name, value, ...]` in the backend's order and case (latin1, RFC 9110 §5.5). */
  readonly headers: string[];
  readonly framing: BodyFraming;
  /** The connection may carry another request after this response. */
  readonly keepAlive: boolean;
  /** `Keep-Alive: timeout=N` of the backend in ms, when it sent one. */
  readonly keepAliveHintMs: number | undefined;
}

export class ResponseParseError extends Error {
  readonly code = 'UPSTREAM_BAD_RESPONSE';
}

const CRLF = 0x0a;
const NONE: BodyFraming = { kind: 'none' };
const CHUNKED: BodyFraming = { kind: 'chunked' };
const UNTIL_CLOSE: BodyFraming = { kind: 'close' };
/** A header name: RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/;

/** Index just past the blank line ending the head, or -1 when the head is not complete yet. */
export function headEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', Math.max(0, from - 3), 'latin1');
  return i < 0 ? -1 : i + 4;
}

/**
 * Parses the head in `buf[0, end)` (end from `headEnd`). `requestMethod` decides whether a body
 * can follow (HEAD never has one).
 */
export function parseResponseHead(buf: Buffer, end: number, requestMethod: string): ResponseHead {
  // The head up to and including the last header line's CRLF (the blank line left out).
  const text = buf.toString('latin1', 0, end - 2);
  const first = text.indexOf('\r\n');
  const m = STATUS_LINE.exec(text.slice(0, first));
  if (m === null) throw new ResponseParseError('the backend sent a malformed status line');
  const http10 = m[1] === '0';
  const status = Number(m[2]);
  const headers: string[] = [];
  let length: number | undefined;
  let chunked = false;
  let otherCoding = false;
  let close = http10;
  let keepAliveHintMs: number | undefined;
  // indexOf over one string rather than split(): this runs once per proxied request.
  for (let pos = first + 2; pos < text.length; ) {
    const eol = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    // Obsolete line folding (a line starting with whitespace) and names with spaces are refused.
    if (colon <= pos || colon > eol) throw new ResponseParseError('the backend sent a malformed header line');
    const name = text.slice(pos, colon);
    if (!TOKEN.test(name)) throw new ResponseParseError('the backend sent a malformed header name');
    const value = text.slice(colon + 1, eol).trim();
    // Node's own rule for header values (a bare CR or LF could split the response we send on).
    if (BAD_VALUE.test(value)) throw new ResponseParseError('the backend sent a header value with control characters');
    pos = eol + 2;
    // Names are compared by length first: most headers are none of these.
    switch (name.length) {
      case 14:
        if (name.toLowerCase() === 'content-length') {
          const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
          if (Number.isNaN(n) || (length !== undefined && length !== n)) throw new ResponseParseError('the backend sent a malformed Content-Length');
          length = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          const codings = value.toLowerCase();
          // Chunked must be the last coding (RFC 9112 §6.3); other codings stay in the body.
          if (codings === 'chunked' || codings.endsWith(',chunked') || codings.endsWith(', chunked')) chunked = true;
          else otherCoding = true;
        }
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v.includes('close')) close = true;
          else if (http10 && v.includes('keep-alive')) close = false;
        } else if (name.toLowerCase() === 'keep-alive') {
          const t = /timeout=(\d+)/i.exec(value);
          if (t !== null) keepAliveHintMs = Number(t[1]) * 1000;
        }
        break;
    }
    headers.push(name, value);
  }
  if ((chunked || otherCoding) && length !== undefined) {
    throw new ResponseParseError('the backend sent both Content-Length and Transfer-Encoding');
  }
  let framing: BodyFraming;
  if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) framing = NONE;
  else if (chunked) framing = CHUNKED;
  else if (otherCoding) framing = UNTIL_CLOSE;
  else if (length !== undefined) framing = length === 0 ? NONE : { kind: 'length', length };
  else framing = UNTIL_CLOSE;
  return { status, headers, framing, keepAlive: !close && framing.kind !== 'close', keepAliveHintMs };
}

/** Longest chunk-size line (with extensions) or trailer line we accept. */
const MAX_CHUNK_LINE = 4096;

/**
 * Incremental decoder of a chunked body (RFC 9112 §7.1). `push` hands each piece of chunk data to
 * `onData` and returns how many bytes of `buf` it consumed: all of them, or fewer when the body
 * ended inside `buf` (the rest belongs to nobody: with one request per connection there is no next
 * response yet, so the connection is not reused).
 */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private remaining = 0;
  /** A size or trailer line split across reads. */
  private line = '';

  get done(): boolean {
    return this.state === 'done';
  }

  push(buf: Buffer, onData: (chunk: Buffer) => void): number {
    let i = 0;
    while (i < buf.length && this.state !== 'done') {
      switch (this.state) {
        case 'size':
        case 'trailer':
        case 'data-crlf': {
          const nl = buf.indexOf(CRLF, i);
          const part = buf.toString('latin1', i, nl < 0 ? buf.length : nl);
          if (this.line.length + part.length > MAX_CHUNK_LINE) throw new ResponseParseError('the backend sent an oversized chunk line');
          if (nl < 0) {
            this.line += part;
            return buf.length;
          }
          const line = this.line + part;
          this.line = '';
          i = nl + 1;
          if (!line.endsWith('\r')) throw new ResponseParseError('the backend sent a bare LF in a chunked body');
          this.endLine(line.slice(0, -1));
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, buf.length - i);
          onData(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'data-crlf';
          break;
        }
      }
    }
    return i;
  }

  private endLine(line: string): void {
    if (this.state === 'data-crlf') {
      if (line !== '') throw new ResponseParseError('the backend sent a chunk longer than its size');
      this.state = 'size';
      return;
    }
    if (this.state === 'trailer') {
      // Trailers are dropped (hop-by-hop in practice); the blank line ends the body.
      if (line === '') this.state = 'done';
      return;
    }
    const semi = line.indexOf(';');
    const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ResponseParseError('the backend sent a malformed chunk size');
    const size = parseInt(hex, 16);
    if (size === 0) this.state = 'trailer';
    else {
      this.remaining = size;
      this.state = 'data';
    }
  }
}
