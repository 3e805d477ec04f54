import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { z } from 'zod';

/**
 * An endpoint's state for its probe, served on a Unix socket in its service directory (one JSON
 * line, then close). Not on a TCP port: a probe through the endpoint itself would open a database
 * connection per probe (MariaDB counts aborted handshakes against the host), and the probe runs on
 * the node anyway (the supervisor, or the host's agent).
 */
const endpointStatusSchema = z.object({
  healthy: z.boolean(),
  /** `writer db2`, `readers db2, db3`, `master redis1`, or `holding: no writer`. */
  detail: z.string(),
  upstreams: z.array(z.string()),
  connections: z.number().int(),
  holding: z.number().int(),
  dropped: z.number().int(),
});
export type EndpointStatus = z.infer<typeof endpointStatusSchema>;

/** The status socket of an endpoint whose service directory is `dir`. */
export function statusSocketPath(dir: string): string {
  return path.join(dir, 'status.sock');
}

export function serveStatus(socketPath: string, now: () => EndpointStatus): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((c) => {
    c.on('error', () => undefined);
    c.end(`${JSON.stringify(now())}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      // Only the endpoint's own user (and root, the agent) may read it.
      fs.chmodSync(socketPath, 0o600);
      resolve(server);
    });
  });
}

/** Reads the status, bounded by `timeoutMs`; throws when the endpoint does not answer. */
export function readStatus(socketPath: string, timeoutMs: number): Promise<EndpointStatus> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let text = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer on ${socketPath} in ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    // 64 KiB is far above one status line; a longer answer is not ours.
    s.on('data', (d: string) => {
      text += d;
      if (text.length > 65_536) s.destroy(new Error('status answer too long'));
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('end', () => {
      clearTimeout(t);
      try {
        resolve(endpointStatusSchema.parse(JSON.parse(text)));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}
