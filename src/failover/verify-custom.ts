import { request, type Dispatcher } from 'undici';
import { appHealthPath, isCommandApp, servicesOf, type VerifyConfig } from '../config/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import type { FailoverEnv } from './context.js';

/**
 * `failover.verify`: the end-to-end check of any app after a promotion (src/failover/verify.ts
 * keeps the example ERP's order check as the default of module apps). An HTTP request through a
 * load balancer, or a command run with the environment contract of an app node that is not the
 * fenced one. A command app without `failover.verify` gets a GET of its health path.
 */

// Per attempt: a request through a load balancer answers in milliseconds; 10 s covers the app's
// own reconnect to the new writer.
const HTTP_TIMEOUT_MS = 10_000;
// 10 attempts, 500 ms apart: the app may need a moment to find the new writer (as the ERP check).
const ATTEMPTS = 10;
// A verify command gets 2 minutes: it is the operator's own end-to-end script.
const COMMAND_TIMEOUT_MS = 120_000;
const OUTPUT_LIMIT = 4096;

/** A check and the statuses it accepts: `failover.verify`'s own, or a command app's health path (any 2xx/3xx, as its readiness). */
export interface CustomCheck {
  readonly verify: VerifyConfig;
  readonly accept: (status: number) => boolean;
}

/** What to check for this cluster, or undefined for the ERP's order (a module app without failover.verify). */
export function customVerify(env: FailoverEnv): CustomCheck | undefined {
  const c = env.topo.config;
  const v = c.failover.verify;
  if (v !== undefined) return { verify: v, accept: (s) => 'expectStatus' in v && s === v.expectStatus };
  if (isCommandApp(c)) return { verify: { method: 'GET', path: appHealthPath(c), headers: {}, expectStatus: 200 }, accept: (s) => s >= 200 && s < 400 };
  return undefined;
}

async function httpCheck(base: string, v: Extract<VerifyConfig, { path: string }>, accept: (status: number) => boolean, d: Dispatcher | undefined): Promise<string> {
  let last = '';
  for (let i = 0; i < ATTEMPTS; i++) {
    try {
      const res = await request(`${base}${v.path}`, {
        ...(d !== undefined ? { dispatcher: d } : {}),
        method: v.method,
        headers: v.headers,
        ...(v.body !== undefined ? { body: v.body } : {}),
        headersTimeout: HTTP_TIMEOUT_MS,
        bodyTimeout: HTTP_TIMEOUT_MS,
      });
      await res.body.dump();
      if (accept(res.statusCode)) return `${v.method} ${base}${v.path} → ${res.statusCode}`;
      last = `HTTP ${res.statusCode} (expected ${v.expectStatus})`;
    } catch (e) {
      last = describeError(e);
    }
    await sleep(500);
  }
  throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `failover.verify: ${v.method} ${base}${v.path} failed ${ATTEMPTS} times, last: ${last}`);
}

async function commandCheck(env: FailoverEnv, fenced: string, command: string): Promise<string> {
  const apps = servicesOf(env.topo, 'app');
  const svc = apps.find((s) => s.node !== fenced) ?? apps[0];
  if (svc === undefined) throw new HastackError(ErrorCode.CONFIG_INVALID, 'failover.verify.command needs an app node for its environment');
  // The migrate process's contract (no HOST/PORT of a server), in app.dir, as app.migrate runs.
  // Loaded here: through app/index it would bring Fastify and BullMQ into every importer of failover/.
  const { describeExit, spawnCommand } = await import('../app/command.js');
  const { child, exited } = spawnCommand({ topo: env.topo, secrets: env.secrets, svc, asRoot: process.getuid?.() === 0 }, 'migrate', command, 'pipe');
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
  const e = await exited.finally(() => clearTimeout(timer));
  if (e.code === 0) return `failover.verify.command exited 0 (environment of ${svc.node})`;
  throw new HastackError(ErrorCode.HOOK_FAILED, `failover.verify.command exited with ${describeExit(e)}; its output ends:\n${out.trim()}`);
}

/** Runs the configured check through the load balancer at `base` (or the command). */
export async function runCustomVerify(env: FailoverEnv, fenced: string, base: string, check: CustomCheck, d?: Dispatcher): Promise<string> {
  const v = check.verify;
  if ('command' in v) return commandCheck(env, fenced, v.command);
  return httpCheck(base, v, check.accept, d);
}
