/**
 * Resolves like `p`, or rejects with `onTimeout()` after `ms`. The underlying work is not
 * cancelled (a Redis command stays queued and may still run), so only use this around
 * operations that are safe to complete late: idempotent ones, or ones the caller re-checks.
 */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
