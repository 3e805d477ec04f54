import { spawn } from 'node:child_process';
import { request } from 'undici';
import { appEnvironment, appHealthPath, isCommandApp, servicesOf, type VerifyConfig } from '../config/index.js';
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

/** What to check for this cluster, or undefined for the ERP's order (a module app without failover.verify). */
export function customVerify(env: FailoverEnv): VerifyConfig | undefined {
  const c = env.topo.config;
  if (c.failover.verify !== undefined) return c.failover.verify;
  if (isCommandApp(c)) return { method: 'GET', path: appHealthPath(c), headers: {}, expectStatus: 200 };
  return undefined;
}

async function httpCheck(base: string, v: Extract<VerifyConfig, { path: string }>, acceptRedirect: boolean): Promise<string> {
  let last = '';
  for (let i = 0; i < ATTEMPTS; i++) {
    try {
      const res = await request(`${base}${v.path}`, {
        method: v.method,
        headers: v.headers,
        ...(v.body !== undefined ? { body: v.body } : {}),
        headersTimeout: HTTP_TIMEOUT_MS,
        bodyTimeout: HTTP_TIMEOUT_MS,
      });
      await res.body.dump();
      const ok = res.statusCode === v.expectStatus || (acceptRedirect && res.statusCode >= 200 && res.statusCode < 400);
      if (ok) return `${v.method} ${base}${v.path} → ${res.statusCode}`;
      last = `HTTP ${res.statusCode} (expected ${v.expectStatus})`;
    } catch (e) {
      last = describeError(e);
    }
    await sleep(500);
  }
  throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `failover.verify: ${v.method} ${base}${v.path} failed ${ATTEMPTS} times, last: ${last}`);
}

function commandCheck(env: FailoverEnv, fenced: string, command: string): Promise<string> {
  const node = servicesOf(env.topo, 'app').find((s) => s.node !== fenced)?.node ?? servicesOf(env.topo, 'app')[0]?.node;
  if (node === undefined) throw new HastackError(ErrorCode.CONFIG_INVALID, 'failover.verify.command needs an app node for its environment');
  const contract = appEnvironment(env.topo, env.secrets, node, 'migrate');
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: env.topo.appDir, env: { ...process.env, ...contract }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b: Buffer): void => {
      out = (out + b.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), COMMAND_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new HastackError(ErrorCode.HOOK_FAILED, `failover.verify.command could not start: ${describeError(e)}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(`failover.verify.command exited 0 (environment of ${node})`);
      else reject(new HastackError(ErrorCode.HOOK_FAILED, `failover.verify.command exited with ${signal ?? `status ${code}`}; its output ends:\n${out.trim()}`));
    });
  });
}

/** Runs the configured check through the load balancer at `base` (or the command). */
export async function runCustomVerify(env: FailoverEnv, fenced: string, base: string, v: VerifyConfig): Promise<string> {
  if ('command' in v) return commandCheck(env, fenced, v.command);
  // The default check of a command app (no failover.verify) takes any 2xx/3xx, as its readiness does.
  return httpCheck(base, v, env.topo.config.failover.verify === undefined);
}
