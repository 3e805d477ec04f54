/**
 * A gate for repetitive error logs: `pass(message)` is true the first time a message is seen in
 * each window. ioredis and BullMQ report one error per reconnect attempt (every 50-500 ms during
 * an outage); one line per distinct message every 5 s says the same without flooding the log.
 */
export function logGate(windowMs = 5_000): (message: string) => boolean {
  const last = new Map<string, number>();
  return (message: string): boolean => {
    // "Retrying from scratch after 99ms" and "... after 61ms" are the same message.
    const key = message.replace(/\d+/g, '#');
    const now = Date.now();
    if (now - (last.get(key) ?? -Infinity) < windowMs) return false;
    // Bounded: distinct messages are few; clear rather than grow if something is generating many.
    if (last.size > 100) last.clear();
    last.set(key, now);
    return true;
  };
}
