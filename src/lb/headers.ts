import { randomUUID } from 'node:crypto';

/**
 * Header rewriting for the proxy, in one pass over Node's / undici's flat raw header arrays
 * (`[name, value, name, value, ...]`), which keep the original case and repeated headers
 * (`Set-Cookie`) and spare building header objects on the hot path.
 */

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the old `Proxy-Connection`: never forwarded. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  'http2-settings',
]);

/** Connection options that name no header; any other token in `Connection` names one to strip. */
function isConnectionOption(token: string): boolean {
  return token === 'keep-alive' || token === 'close' || token === 'upgrade' || token === '';
}

/**
 * Headers a `Connection` header can never remove, whoever sends it. RFC 9110 §7.6.1 lets a sender
 * declare its own headers hop-by-hop; it gives nobody the power to remove what the next hop relies
 * on. `Host` routes the request; `Idempotency-Key` is what makes a retry safe (retry.ts: a keyed
 * request is retried after a reset, so the app must see the key on every attempt); the forwarding
 * headers and `X-Request-Id` are ours, added after the client's are filtered, so a client naming
 * them strips nothing of ours either way. On responses, `X-Request-Id` is what a client quotes.
 */
function isProtected(lower: string): boolean {
  switch (lower) {
    case 'host':
    case 'idempotency-key':
    case 'x-request-id':
    case 'forwarded':
    case 'x-real-ip':
      return true;
    default:
      return lower.startsWith('x-forwarded-');
  }
}

/**
 * Adds the extra header names a `Connection` header lists (RFC 9110 §7.6.1: hop-by-hop too) to
 * `into`, lower-cased, creating the list only when there is one. A plain array: a request names
 * one or two at most, and a list costs no hash table per request (README, "Hot path").
 */
function connectionTokensOf(value: string, into: string[] | undefined): string[] | undefined {
  // Nearly every request and response says just `keep-alive` or `close`: no need to split.
  if (value.length <= 10 && isConnectionOption(value.toLowerCase())) return into;
  let out = into;
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (!isConnectionOption(token) && !isProtected(token)) (out ??= []).push(token);
  }
  return out;
}

export interface UpstreamRequestHeaders {
  /** Flat raw array for the upstream client, hop-by-hop and client forwarding headers removed, ours added. */
  readonly headers: string[];
  /** Always made here (a UUID): a client's own id is not trusted into our logs and the app's. */
  readonly requestId: string;
  /** An `Idempotency-Key` is among `headers` (what the app will see), so a retry is safe. */
  readonly hasIdempotencyKey: boolean;
  /** Parsed `Content-Length`; undefined when absent, NaN when malformed or repeated with other values. */
  readonly contentLength: number | undefined;
  /** `Transfer-Encoding` was present: a body follows whose length we learn only by reading it. */
  readonly chunked: boolean;
  /** Why the request must be refused with 400 before any backend sees it; undefined when fine. */
  readonly invalid: string | undefined;
  /** The client came over TLS (the HTTPS listener): `X-Forwarded-Proto: https` and `Forwarded` were set. */
  readonly secure: boolean;
}

/** `raw` without the headers named in `names` (lower-case). */
function withoutNames(raw: string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!names.includes((raw[i] as string).toLowerCase())) out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

function hasKey(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() === 'idempotency-key' && headers[i + 1] !== '') return true;
  }
  return false;
}

/** Headers a client may not set because we state them (never trusted from outside). */
function isClientForwarding(lower: string): boolean {
  return lower === 'forwarded' || lower === 'x-real-ip' || lower.startsWith('x-forwarded-');
}

/**
 * The headers to send upstream for one client request:
 * - hop-by-hop headers removed, and those the client named in `Connection` (never `Host`,
 *   `Idempotency-Key` or ours: `isProtected`), before ours are added;
 * - `X-Forwarded-For`, `-Proto`, `-Host`, `Forwarded`, `X-Real-IP` from the client dropped and
 *   ours set (the client's address, `http`, its Host): an app may trust them because we are the
 *   only way in;
 * - `X-Request-Id` overwritten with a fresh UUID (a client could otherwise pick ids that collide
 *   with others' in our logs, or inject kilobytes into every log line);
 * - `Content-Length` dropped because the body is sent from a buffer and upstream.ts sets it;
 *   `Expect` dropped because Node already answered `100 Continue` to the client.
 * `hasIdempotencyKey` is read from the headers actually sent, after every strip: the retry
 * decision and what the app sees can never disagree.
 * Framing problems Node's parser lets through are reported in `invalid` (a second Host, a
 * Transfer-Encoding other than `chunked`, Content-Length repeated with different values): the
 * request is refused before it can desynchronise anything behind us.
 */
export function upstreamRequestHeaders(raw: readonly string[], clientAddress: string | undefined, secure = false): UpstreamRequestHeaders {
  let headers: string[] = [];
  let hasIdempotencyKey = false;
  let contentLength: number | undefined;
  let chunked = false;
  let extraHop: string[] | undefined;
  let host: string | undefined;
  let invalid: string | undefined;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'x-request-id':
        continue;
      case 'content-length': {
        const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
        // RFC 9112 §6.3: differing repeated lengths are unrecoverable framing errors.
        contentLength = contentLength === undefined || contentLength === n ? n : Number.NaN;
        continue;
      }
      case 'transfer-encoding':
        // We only understand `chunked` alone; anything else ("gzip, chunked", "chunked, x") is a
        // classic smuggling vector (RFC 9112 §6.1), refused rather than guessed at.
        if (chunked || value.trim().toLowerCase() !== 'chunked') invalid ??= 'unsupported Transfer-Encoding';
        chunked = true;
        continue;
      case 'expect':
        continue;
      case 'connection':
        extraHop = connectionTokensOf(value, extraHop);
        continue;
      case 'host':
        // RFC 9112 §3.2: more than one Host is a 400.
        if (host !== undefined) invalid ??= 'more than one Host header';
        host = value;
        break;
      case 'idempotency-key':
        hasIdempotencyKey ||= value !== '';
        break;
      default:
        if (HOP_BY_HOP.has(lower) || isClientForwarding(lower)) continue;
    }
    headers.push(name, value);
  }
  if (chunked && contentLength !== undefined) invalid ??= 'both Content-Length and Transfer-Encoding';
  // Rare: a client naming its own hop-by-hop headers in `Connection`. Applied to the client's
  // headers only, before ours are added, so it can never remove anything we state.
  if (extraHop !== undefined) {
    headers = withoutNames(headers, extraHop);
    // Decided again from what is left (isProtected keeps the key today; this keeps the retry
    // decision tied to what the app will see even if that list changes).
    hasIdempotencyKey = hasKey(headers);
  }

  const requestId = randomUUID();
  const proto = secure ? 'https' : 'http';
  headers.push('x-request-id', requestId, 'x-forwarded-proto', proto);
  if (clientAddress !== undefined) headers.push('x-forwarded-for', clientAddress);
  if (host !== undefined) headers.push('x-forwarded-host', host);
  // RFC 7239 over TLS: the same facts in the standard header (an IPv6 address quoted and
  // bracketed). Plain HTTP keeps the X-Forwarded-* set alone, as before lb.tls existed.
  if (secure) headers.push('forwarded', clientAddress === undefined ? 'proto=https' : `for=${clientAddress.includes(':') ? `"[${clientAddress}]"` : clientAddress};proto=https`);
  return { headers, requestId, hasIdempotencyKey, contentLength, chunked, invalid, secure };
}

/**
 * The backend's response headers to send to the client: hop-by-hop removed (Node frames the body
 * itself, chunked or by the kept `Content-Length`), and those the backend named in `Connection`
 * (never `X-Request-Id`), then `X-Request-Id` added when the app did not echo it, so a client can
 * always quote it.
 */
export function downstreamResponseHeaders(raw: readonly (string | Buffer)[], requestId: string): string[] {
  let out: string[] = [];
  let extraHop: string[] | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string | Buffer;
    const v = raw[i + 1] as string | Buffer;
    // Buffers are accepted too (undici's raw headers); HTTP/1 headers are latin1 (RFC 9110 §5.5).
    const name = typeof n === 'string' ? n : n.toString('latin1');
    const value = typeof v === 'string' ? v : v.toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      extraHop = connectionTokensOf(value, extraHop);
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'x-request-id') hasRequestId = true;
    out.push(name, value);
  }
  if (extraHop !== undefined) out = withoutNames(out, extraHop);
  if (!hasRequestId) out.push('x-request-id', requestId);
  return out;
}
