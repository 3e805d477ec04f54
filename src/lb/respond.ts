import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../shared/errors.js';

/**
 * Answers the load balancer writes itself (errors, admin endpoints): JSON, never cached.
 * Error bodies have the app contract's shape: `{"error":{"code","message","requestId"}}`.
 */

export function sendJson(res: ServerResponse, status: number, body: unknown, extra?: Readonly<Record<string, string>>): void {
  if (res.headersSent) {
    // The response already started (a backend died mid-body): the only honest signal left is to
    // cut the connection, so the client sees a truncated response rather than a silently short one.
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, requestId: string, extra?: Readonly<Record<string, string>>): void {
  sendJson(res, status, { error: { code, message, requestId } }, { 'x-request-id': requestId, ...extra });
}
