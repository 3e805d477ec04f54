/**
 * How an HTTP request made with undici (or bounded by an AbortSignal) failed, from the error it
 * threw. Whether the request was ever sent is what callers decide on: the chaos workload (would a
 * browser show an error, or quietly try the next address?) and the load balancer's health probes
 * (a backend that took the connection and answered late is alive, one that refused is not). Pure.
 * - `unreached`: never sent, the connection was not made (nothing listening, no route, the
 *   connect timed out);
 * - `timeout`: connected, then no answer within the request's time;
 * - `reset`: anything else after the connection was made (ECONNRESET, EPIPE, UND_ERR_SOCKET
 *   "other side closed", a TLS alert, an abort): the request may have gone out and the answer did
 *   not come back.
 */
export type RequestFailure = 'unreached' | 'timeout' | 'reset';

const UNREACHED_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return undefined;
}

function nameOf(e: unknown): string | undefined {
  return e instanceof Error || (typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string') ? (e as { name: string }).name : undefined;
}

export function requestFailure(e: unknown): RequestFailure {
  // undici wraps some errors (fetch-style `cause`); look one level down too.
  const cause = typeof e === 'object' && e !== null ? (e as { cause?: unknown }).cause : undefined;
  for (const x of [e, cause]) {
    const code = codeOf(x);
    if (code !== undefined && UNREACHED_CODES.has(code)) return 'unreached';
    if (code !== undefined && TIMEOUT_CODES.has(code)) return 'timeout';
    // AbortSignal.timeout(...) rejects with a DOMException named TimeoutError.
    if (nameOf(x) === 'TimeoutError') return 'timeout';
  }
  return 'reset';
}
