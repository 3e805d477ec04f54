import { execFileSync } from 'node:child_process';
import { netnsNames } from '../../src/substrate/index.js';
import net from 'node:net';

/** hastack's namespaces and links of a cluster still on the machine (must be none after `down`). */
export function networkLeftovers(cluster: string): string[] {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`hs-${cluster}-`));
  const names = netnsNames(cluster);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n === names.bridge || n.startsWith(names.vethPrefix));
  return [...ns, ...links];
}

/** Whether a TCP connection opens within 1 s: 'open', 'refused', or 'timeout' (dropped). */
export function connects(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, 1_000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve('open');
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === 'ECONNREFUSED' ? 'refused' : (e.code ?? 'error'));
    });
  });
}
