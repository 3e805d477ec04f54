import { appEnvironment, maskAppEnvironment, readSecrets } from '../config/index.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';

/**
 * A value as the right side of a POSIX shell assignment: `'...'` with every `'` closed, escaped
 * and reopened, unless plain. `*` counts as plain: an assignment's value is never globbed, and the
 * mask then reads as it is.
 */
function shellWord(v: string): string {
  return /^[A-Za-z0-9_@%+=:,./*-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/**
 * `hastack env NODE`: the environment contract the app (and worker) processes of NODE get, as
 * `NAME=value` lines a shell can source, or a JSON object. Passwords are masked unless
 * `--show-secrets`: the output goes to a terminal, a scrollback, a ticket.
 */
export function printEnv(node: string, opts: ConfigOptions & { json?: boolean; showSecrets?: boolean }): void {
  const topo = loadRunningTopology(opts);
  const carries = topo.nodes.find((n) => n.name === node)?.services ?? [];
  const env = appEnvironment(topo, readSecrets(topo.stateDir), node, carries.includes('app') ? 'app' : 'worker');
  const shown = opts.showSecrets ? { ...env } : maskAppEnvironment(env);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return;
  }
  const lines = Object.entries(shown).map(([k, v]) => `${k}=${shellWord(v)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!opts.showSecrets) process.stderr.write('(passwords masked; --show-secrets prints them)\n');
}
