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
const CONNECTION_OPTIONS: ReadonlySet<string> = new Set(['keep-alive', 'close', 'upgrade', '']);

// 200 characters: room for any UUID or trace id format, small enough that a hostile client cannot
// make every log line and upstream request carry a kilobyte of its choosing.
const MAX_REQUEST_ID_LENGTH = 200;

export interface UpstreamRequestHeaders {
  /** Flat raw array for undici, hop-by-hop headers removed, our headers added. */
  readonly headers: string[];
  /** The client's `X-Request-Id` when usable, else a fresh UUID. */
  readonly requestId: string;
  readonly hasIdempotencyKey: boolean;
  /** Parsed `Content-Length`; undefined when absent, NaN when malformed. */
  readonly contentLength: number | undefined;
  /** `Transfer-Encoding` was present: a body follows whose length we learn only by reading it. */
  readonly chunked: boolean;
}

/**
 * Adds the extra header names a `Connection` header lists (RFC 9110 §7.6.1: hop-by-hop too) to
 * `into`, creating the set only when there is one.
 */
function connectionTokensOf(value: string, into: Set<string> | undefined): Set<string> | undefined {
  // Nearly every request and response says just `keep-alive` or `close`: no need to split.
  if (value.length <= 10 && CONNECTION_OPTIONS.has(value.toLowerCase())) return into;
  let out = into;
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (!CONNECTION_OPTIONS.has(token)) (out ??= new Set()).add(token);
  }
  return out;
}

function withoutNames(raw: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!names.has((raw[i] as string).toLowerCase())) out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

/**
 * The headers to send upstream for one client request: hop-by-hop removed, `X-Request-Id` kept
 * or made, the client's address appended to `X-Forwarded-For`. `Content-Length` is dropped
 * because the body is sent from a buffer and undici sets it; `Expect` is dropped because Node
 * already answered `100 Continue` to the client and undici refuses it.
 */
export function upstreamRequestHeaders(raw: readonly string[], clientAddress: string | undefined): UpstreamRequestHeaders {
  const headers: string[] = [];
  let requestId: string | undefined;
  let forwardedFor: string | undefined;
  let hasIdempotencyKey = false;
  let contentLength: number | undefined;
  let chunked = false;
  let extraHop: Set<string> | undefined;
  let seenHost = false;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'x-request-id':
        if (requestId === undefined && value !== '' && value.length <= MAX_REQUEST_ID_LENGTH) requestId = value;
        continue;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'content-length':
        contentLength = /^\d+$/.test(value) ? Number(value) : Number.NaN;
        continue;
      case 'transfer-encoding':
        chunked = true;
        continue;
      case 'expect':
        continue;
      case 'connection':
        extraHop = connectionTokensOf(value, extraHop);
        continue;
      case 'host':
        // undici rejects a second Host; Node's parser lets one through. The first one wins.
        if (seenHost) continue;
        seenHost = true;
        break;
      case 'idempotency-key':
        hasIdempotencyKey = value !== '';
        break;
      default:
        if (HOP_BY_HOP.has(lower)) continue;
    }
    headers.push(name, value);
  }

  const id = requestId ?? randomUUID();
  headers.push('x-request-id', id);
  if (clientAddress !== undefined) {
    headers.push('x-forwarded-for', forwardedFor === undefined ? clientAddress : `${forwardedFor}, ${clientAddress}`);
  } else if (forwardedFor !== undefined) {
    headers.push('x-forwarded-for', forwardedFor);
  }
  // Rare: a client naming its own hop-by-hop headers in `Connection`; filter them out afterwards
  // rather than slow the common pass down.
  const final = extraHop !== undefined ? withoutNames(headers, extraHop) : headers;
  return { headers: final, requestId: id, hasIdempotencyKey, contentLength, chunked };
}

/**
 * The backend's response headers to send to the client: hop-by-hop removed (Node frames the body
 * itself, chunked or by the kept `Content-Length`), and `X-Request-Id` added when the app did not
 * echo it, so a client can always quote it.
 */
export function downstreamResponseHeaders(raw: readonly string[], requestId: string): string[] {
  const out: string[] = [];
  let extraHop: Set<string> | undefined;
  let hasRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      extraHop = connectionTokensOf(value, extraHop);
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'x-request-id') hasRequestId = true;
    out.push(name, value);
  }
  if (!hasRequestId) out.push('x-request-id', requestId);
  return extraHop !== undefined ? withoutNames(out, extraHop) : out;
}
