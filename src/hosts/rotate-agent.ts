import fs from 'node:fs';
import { z } from 'zod';
import { heldSecrets, readTopology, secretsFile, type ServiceInstance, type Topology } from '../config/index.js';
import {
  alterAccount,
  alterLocalRoot,
  isWritable,
  redisAcceptPassword,
  redisDropOldPassword,
  redisUsePassword,
  sentinelAcceptPassword,
  sentinelDropOldPassword,
  sentinelSetAuthPass,
  sentinelUsePassword,
  setReplicationPassword,
  withRoot,
} from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { asRoot, type AgentEnv } from './agent-env.js';
import { secretsSchema } from './agent-types.js';

/**
 * `_agent secrets` (stdin: one SecretsRequest): the host side of `hastack secrets rotate` on
 * `substrate: hosts`. Each call is one step of the rotation (src/failover/rotate.ts has the order
 * and the reasons) run where the engine lives: Redis and Sentinel over their own address, MariaDB
 * as root over the node's unix socket. Passwords come on stdin only (never argv, never printed):
 * the answer says what was done, nothing more. Every engine call tries the passwords it is given
 * in turn, so a step run again after an interruption finds the server in either state.
 */

/** A password as secrets.json holds it (generateSecret: 32 base64url characters; old ones may differ). */
const password = z.string().min(1).max(512);
/** The passwords that may be in force: the new one first, then the old one. */
const passwords = z.array(password).min(1).max(2);
const id = z.string().min(3).max(200);

const pair = { id, next: password, old: password };
export const secretsRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('redis-accept'), ...pair }).strict(),
  z.object({ op: z.literal('redis-masterauth'), ...pair }).strict(),
  z.object({ op: z.literal('redis-drop-old'), ...pair }).strict(),
  z.object({ op: z.literal('sentinel-accept'), ...pair }).strict(),
  z.object({ op: z.literal('sentinel-peer-pass'), ...pair }).strict(),
  z.object({ op: z.literal('sentinel-drop-old'), ...pair }).strict(),
  z.object({ op: z.literal('sentinel-auth-pass'), id, sentinelPasswords: passwords, redisPassword: password }).strict(),
  z.object({ op: z.literal('db-writable'), id, roots: passwords }).strict(),
  /** On the primary: `user`'s every host entry logs in with `passwords` (binlogged: every node follows). */
  z.object({ op: z.literal('db-account'), id, roots: passwords, user: z.string().regex(/^[a-z_][a-z0-9_]*$/), passwords }).strict(),
  z.object({ op: z.literal('db-root-local'), id, roots: passwords, passwords }).strict(),
  z.object({ op: z.literal('db-repl-password'), id, roots: passwords, password }).strict(),
  /** The node's secrets.json (its subset, from the descriptors' secrets), written as `apply` writes it. */
  z.object({ op: z.literal('write-secrets'), secrets: secretsSchema }).strict(),
  /** Whether the load balancer `id` routes to `backend` (its /-/healthz, asked from its own host). */
  z.object({ op: z.literal('lb-routes'), id, backend: id }).strict(),
]);
export type SecretsRequest = z.infer<typeof secretsRequestSchema>;

export const secretsAnswerSchema = z.object({
  op: z.string(),
  /** db-writable: the node takes writes; lb-routes: the backend is healthy there; write-secrets: the file changed. */
  yes: z.boolean().optional(),
});
export type SecretsAnswer = z.infer<typeof secretsAnswerSchema>;

/** The same text `apply` writes (install.ts): a later `deploy` then finds the file unchanged. */
export function secretsFileText(secrets: z.infer<typeof secretsSchema>): string {
  return JSON.stringify(secrets, null, 2) + '\n';
}

/** A whole /-/healthz answers in milliseconds on the lb's own host; 5 s is a stuck load balancer. */
const LB_TIMEOUT_MS = 5_000;

export function parseSecretsRequest(text: string): SecretsRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HastackError(ErrorCode.BAD_REQUEST, 'stdin is not JSON: "_agent secrets" reads one request (hastack secrets rotate sends it)');
  }
  const parsed = secretsRequestSchema.safeParse(raw);
  if (!parsed.success) {
    // Never echo the input: it carries passwords.
    const i = parsed.error.issues[0];
    throw new HastackError(ErrorCode.BAD_REQUEST, `stdin is not a secrets request: ${i ? `${i.path.join('.') || '(top level)'}: ${i.message}` : 'invalid'}`);
  }
  return parsed.data;
}

/** The steps that move one Redis or Sentinel from the old password to the next: one engine call each. */
const PASSWORD_STEPS = {
  'redis-accept': ['redis', redisAcceptPassword],
  'redis-masterauth': ['redis', redisUsePassword],
  'redis-drop-old': ['redis', redisDropOldPassword],
  'sentinel-accept': ['sentinel', sentinelAcceptPassword],
  'sentinel-peer-pass': ['sentinel', sentinelUsePassword],
  'sentinel-drop-old': ['sentinel', sentinelDropOldPassword],
} as const satisfies Record<string, readonly ['redis' | 'sentinel', (svc: ServiceInstance, next: string, old: string) => Promise<void>]>;
type PasswordStep = Extract<SecretsRequest, { op: keyof typeof PASSWORD_STEPS }>;
const isPasswordStep = (req: SecretsRequest): req is PasswordStep => Object.hasOwn(PASSWORD_STEPS, req.op);

function serviceOf(topo: Topology, serviceId: string, kind: ServiceInstance['kind']): ServiceInstance {
  const svc = topo.services.find((s) => s.id === serviceId);
  if (!svc || svc.kind !== kind)
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${kind} "${serviceId}" in this host's topology.json; is the deployed topology the operator's? Run "hastack deploy" first`);
  return svc;
}

/** The passwords functions take theirs explicitly; the context carries none. */
function ctxOf(topo: Topology, svc: ServiceInstance): ServiceContext {
  return { topo, secrets: heldSecrets({}, 'secrets rotate'), svc, asRoot: asRoot() };
}

/** A binlogged ALTER USER may wait for a semi-sync replica's acknowledgement (as rotate.ts). */
const WRITE_SLACK_MS = 5_000;

export async function agentSecrets(env: AgentEnv, req: SecretsRequest): Promise<SecretsAnswer> {
  if (req.op === 'write-secrets') {
    const file = secretsFile(env.stateDir);
    if (!fs.existsSync(file)) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `${file} does not exist: this host was never deployed; run "hastack deploy"`);
    const text = secretsFileText(req.secrets);
    const same = fs.readFileSync(file, 'utf8') === text;
    // Exact mode, fsync, rename: a host cut off mid-write holds the old file or the new one.
    if (!same) writeFileAtomic(file, text, 0o600);
    return { op: req.op, yes: !same };
  }
  const topo = readTopology(env.stateDir);
  if (isPasswordStep(req)) {
    const [kind, step] = PASSWORD_STEPS[req.op];
    await step(serviceOf(topo, req.id, kind), req.next, req.old);
    return { op: req.op };
  }
  switch (req.op) {
    case 'sentinel-auth-pass':
      await sentinelSetAuthPass(serviceOf(topo, req.id, 'sentinel'), req.sentinelPasswords, topo.config.redis.masterName, req.redisPassword);
      return { op: req.op };
    case 'db-writable':
      return { op: req.op, yes: await withRoot(ctxOf(topo, serviceOf(topo, req.id, 'mariadb')), req.roots, isWritable) };
    case 'db-account': {
      const writeMs = topo.config.database.semiSyncTimeoutMs + WRITE_SLACK_MS;
      await withRoot(ctxOf(topo, serviceOf(topo, req.id, 'mariadb')), req.roots, (c) => alterAccount(c, req.user, req.passwords, writeMs));
      return { op: req.op };
    }
    case 'db-root-local':
      await withRoot(ctxOf(topo, serviceOf(topo, req.id, 'mariadb')), req.roots, (c) => alterLocalRoot(c, req.passwords));
      return { op: req.op };
    case 'db-repl-password':
      return { op: req.op, yes: await withRoot(ctxOf(topo, serviceOf(topo, req.id, 'mariadb')), req.roots, (c) => setReplicationPassword(c, req.password)) };
    case 'lb-routes': {
      const lb = serviceOf(topo, req.id, 'lb');
      try {
        const host = lb.address.includes(':') ? `[${lb.address}]` : lb.address;
        const res = await fetch(`http://${host}:${lb.port}/-/healthz`, { signal: AbortSignal.timeout(LB_TIMEOUT_MS) });
        const body = (await res.json()) as { backends?: Array<{ id: string; healthy: boolean }> };
        return { op: req.op, yes: body.backends?.find((b) => b.id === req.backend)?.healthy === true };
      } catch {
        // An lb that does not answer routes nothing: the caller waits (bounded) and asks again.
        return { op: req.op, yes: false };
      }
    }
  }
}
