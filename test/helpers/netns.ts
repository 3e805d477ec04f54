import { execFileSync } from 'node:child_process';
import { netnsNames } from '../../src/substrate/index.js';

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
