import net from 'node:net';

/**
 * Does anything accept TCP connections on host:port? Bounded by `timeoutMs` (1 s by default:
 * loopback answers at once, so a silent port is a stopped or frozen process).
 */
export function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}
