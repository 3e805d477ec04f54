import { ErrorCode, HastackError } from '../shared/errors.js';
import { HttpError } from './contract.js';

export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly requestId: string };
}

export interface ErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
  /** A bug or an unknown failure (500): log it with its stack. */
  readonly unexpected: boolean;
}

// Outages of a shared dependency: the request may succeed if retried shortly.
const UNAVAILABLE: ReadonlySet<string> = new Set([
  ErrorCode.DB_UNAVAILABLE,
  ErrorCode.DB_SPLIT_BRAIN,
  ErrorCode.REDIS_UNAVAILABLE,
  ErrorCode.QUEUE_NOT_DURABLE,
  ErrorCode.UPSTREAM_UNAVAILABLE,
  ErrorCode.TIMEOUT,
]);

const CLIENT_CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  411: 'LENGTH_REQUIRED',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  431: 'HEADERS_TOO_LARGE',
};

interface FrameworkError {
  statusCode?: unknown;
  code?: unknown;
  message?: unknown;
}

/** The JSON error answer for anything a route (or the framework before it) threw. */
export function errorAnswer(e: unknown, requestId: string): ErrorAnswer {
  const answer = (status: number, code: string, message: string, unexpected = false): ErrorAnswer => ({
    status,
    body: { error: { code, message, requestId } },
    unexpected,
  });
  if (e instanceof HttpError) return answer(e.status, e.code, e.message);
  if (e instanceof HastackError) {
    if (UNAVAILABLE.has(e.code)) return answer(503, e.code, e.message);
    // Not "retry shortly": a blind resend could apply the write twice. The database router never
    // replays such a write itself; the caller checks first (the server log has the node and cause).
    if (e.code === ErrorCode.DB_COMMIT_UNKNOWN) {
      return answer(
        503,
        e.code,
        `the database connection was lost while this write was being committed: it may or may not have been applied. Check whether it took effect before sending it again, or resend it with the same Idempotency-Key (request ${requestId})`,
      );
    }
    if (e.code === ErrorCode.BAD_REQUEST) return answer(400, e.code, e.message);
    if (e.code === ErrorCode.NOT_FOUND) return answer(404, e.code, e.message);
    return answer(500, e.code, `internal error (${e.code}); the app server log has details under request ${requestId}`, true);
  }
  if (typeof e === 'object' && e !== null) {
    const f = e as FrameworkError;
    if (f.code === 'FST_ERR_HANDLER_TIMEOUT') {
      return answer(503, ErrorCode.TIMEOUT, 'the request took too long and was abandoned; retry shortly');
    }
    // Framework errors about the request itself (bad JSON, body too large, wrong content type).
    if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
      const message = typeof f.message === 'string' ? f.message : 'bad request';
      return answer(f.statusCode, CLIENT_CODES[f.statusCode] ?? 'BAD_REQUEST', message);
    }
  }
  return answer(500, ErrorCode.INTERNAL, `internal error; the app server log has details under request ${requestId}`, true);
}
