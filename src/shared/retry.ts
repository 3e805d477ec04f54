/** Capped exponential backoff with full jitter: attempt 0 → up to `minMs`, doubling to `maxMs`. */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.max(0, attempt));
  return Math.round(minMs / 2 + random() * Math.max(0, cap - minMs / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `check` until it returns a value other than undefined, or the deadline passes.
 * Every wait in hastack is bounded; this is the one loop they share.
 */
export async function waitFor<T>(check: () => Promise<T | undefined>, opts: { timeoutMs: number; intervalMs?: number; signal?: AbortSignal }): Promise<T | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const interval = opts.intervalMs ?? 200;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() + interval > deadline) return undefined;
    await sleep(interval, opts.signal);
  }
}
