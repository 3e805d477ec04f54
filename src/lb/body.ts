import type { IncomingMessage } from 'node:http';
import type { BodyBudget } from './limits.js';

/*
 * Request bodies are read whole before the first attempt, so a retry can send them again, up to
 * `lb.maxBodyBytes` (1 MiB: far above the JSON forms and API calls an app like the ERP receives).
 * Bigger bodies get 413; uploads of files belong on a path that does not go through retrying
 * buffers. What all bodies held at once may take is bounded too (`lb.maxBufferedBodyBytes`,
 * limits.ts BodyBudget).
 */

export type BodyResult = { readonly kind: 'ok'; readonly body: Buffer } | { readonly kind: 'too-large' } | { readonly kind: 'overloaded' };

/** Where the bytes a body holds in the budget are recorded (the request's exchange): released when it ends. */
export interface BodyHolder {
  reserved: number;
}

/**
 * Reads the request body up to `limit` bytes. Bytes beyond what `holder` reserved already (a
 * declared Content-Length is reserved up front) are reserved in `budget` as they arrive; when they
 * do not fit, the result is `overloaded`. Rejects when the client goes away mid-body.
 */
export function readBody(req: IncomingMessage, limit: number, budget: BodyBudget, holder: BodyHolder): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const stop = (r: BodyResult): void => {
      cleanup();
      // Stop reading; the caller answers with `Connection: close`, which ends the socket.
      req.pause();
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        stop({ kind: 'too-large' });
        return;
      }
      if (size > holder.reserved) {
        const more = size - holder.reserved;
        if (!budget.reserve(more)) {
          stop({ kind: 'overloaded' });
          return;
        }
        holder.reserved += more;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve({ kind: 'ok', body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onClose = (): void => {
      // `close` before `end`: the client hung up mid-body.
      cleanup();
      reject(new Error('client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
