import type { Worker } from 'node:worker_threads';

/** What the quorum's threads (guard-thread.ts, election-thread.ts) are told and answer at a clean stop. */
export type CloseMessage = { readonly type: 'close' } | { readonly type: 'closed' };

/**
 * Asks a quorum thread to stop cleanly (it resigns or revokes its leases, then answers `closed`),
 * and ends it; terminated regardless after `timeoutMs` (an etcd that does not answer).
 */
export async function closeThread(w: Worker, timeoutMs: number): Promise<void> {
  const done = new Promise<void>((resolve) => {
    w.on('message', (m: { readonly type?: string }) => m.type === 'closed' && resolve());
    w.once('exit', () => resolve());
  });
  w.postMessage({ type: 'close' } satisfies CloseMessage);
  const timer = setTimeout(() => void w.terminate(), timeoutMs);
  await done;
  clearTimeout(timer);
  await w.terminate();
}
