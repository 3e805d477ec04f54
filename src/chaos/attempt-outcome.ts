import type { AttemptOutcome } from './history.js';

/**
 * How a failed HTTP attempt failed, from the error undici (or the abort signal) threw: whether the
 * request was ever sent decides whether a browser would show an error (`reset`, `timeout`) or
 * quietly try the next address (`unreached`). Pure.
 */

// Never sent: the connection was not made (nothing listening, no route, the connect timed out).
const UNREACHED_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);
// Sent, then no answer within the attempt's time.
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

export function outcomeOfError(e: unknown): AttemptOutcome {
  // undici wraps some errors (fetch-style `cause`); look one level down too.
  const cause = typeof e === 'object' && e !== null ? (e as { cause?: unknown }).cause : undefined;
  for (const x of [e, cause]) {
    const code = codeOf(x);
    if (code !== undefined && UNREACHED_CODES.has(code)) return 'unreached';
    if (code !== undefined && TIMEOUT_CODES.has(code)) return 'timeout';
    // AbortSignal.timeout(...) rejects with a DOMException named TimeoutError.
    if (nameOf(x) === 'TimeoutError') return 'timeout';
  }
  // Anything else after the connection was made (ECONNRESET, EPIPE, UND_ERR_SOCKET "other side
  // closed", a TLS alert): the request may have gone out and the answer did not come back.
  return 'reset';
}

/** The outcome of an answered attempt: `ok` when the operation accepted it, else by status. */
export function outcomeOfStatus(status: number, accepted: boolean): AttemptOutcome {
  if (accepted) return 'ok';
  return status >= 500 && status <= 599 ? '5xx' : 'answered';
}
