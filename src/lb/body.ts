import type { IncomingMessage } from 'node:http';

/**
 * Request bodies are read whole before the first attempt, so a retry can send them again.
 * 1 MiB: far above the JSON forms and API calls an app like the ERP receives, small enough that
 * a few hundred concurrent uploads cannot exhaust the load balancer's memory. Bigger bodies get
 * 413; uploads of files belong on a path that does not go through retrying buffers.
 */
export const MAX_BODY_BYTES = 1024 * 1024;

export type BodyResult = { readonly kind: 'ok'; readonly body: Buffer } | { readonly kind: 'too-large' };

/** Reads the request body up to `limit` bytes. Rejects when the client goes away mid-body. */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the caller answers 413 with `Connection: close`, which ends the socket.
        req.pause();
        resolve({ kind: 'too-large' });
        return;
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
