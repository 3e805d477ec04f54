/**
 * Debian's `pebble` (Let's Encrypt's ACME test server) for tests: its config written to `dir`,
 * started in its own process group (its log `dir/pebble.log`), stopped by that group's PID.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from '../../src/shared/retry.js';
import { pidAlive } from './cli.js';

export interface PebbleOptions {
  readonly dir: string;
  /** Directory on `address:14000`, management API on `address:15000`. */
  readonly address: string;
  /** Its own HTTPS certificate and key (the Debian package ships none). */
  readonly certFile: string;
  readonly keyFile: string;
  /** Where HTTP-01 validation goes: the load balancers' plain HTTP port. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** The resolver pebble asks for the names it validates (the cluster's DNS tier, `host:port`). */
  readonly dnsServer: string;
  /** Certificate lifetime in seconds (pebble's default when absent). */
  readonly validityS?: number;
  /** Extra environment (`PEBBLE_AUTHZREUSE: '0'` for a real HTTP-01 on every order). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface Pebble {
  readonly logFile: string;
  stop(): Promise<void>;
}

export function startPebble(o: PebbleOptions): Pebble {
  const configFile = path.join(o.dir, 'pebble.json');
  const logFile = path.join(o.dir, 'pebble.log');
  const config = {
    pebble: {
      listenAddress: `${o.address}:14000`,
      managementListenAddress: `${o.address}:15000`,
      certificate: o.certFile,
      privateKey: o.keyFile,
      httpPort: o.httpPort,
      tlsPort: o.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validityS !== undefined ? { certificateValidityPeriod: o.validityS } : {}),
    },
  };
  fs.writeFileSync(configFile, JSON.stringify(config));
  const log = fs.openSync(logFile, 'a');
  const child = spawn('pebble', ['-config', configFile, '-dnsserver', o.dnsServer], {
    detached: true,
    stdio: ['ignore', log, log],
    // No random validation sleeps, no rejected nonces: a test's orders go through first time.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', ...o.env },
  });
  fs.closeSync(log);
  let stopped = false;
  return {
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      const pid = child.pid;
      if (pid === undefined || !pidAlive(pid)) return;
      process.kill(-pid, 'SIGKILL');
      for (let i = 0; i < 50 && pidAlive(pid); i++) await sleep(100);
    },
  };
}
