import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  generateSecret,
  heldSecrets,
  readSecretsFile,
  requireAllSecrets,
  secretsFile,
  servicesOf,
  substrateTraits,
  writeSecrets,
  type SecretName,
  type Secrets,
  type ServiceInstance,
  type Topology,
} from '../config/index.js';
import { driverFor } from '../drivers/index.js';
import { readRunState, SECRETS_RELOADED } from '../substrate/index.js';
import {
  alterAccount,
  alterLocalRoot,
  DB_USERS,
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
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, eventsSize, readEventsFrom } from '../shared/events.js';
import { sleep } from '../shared/retry.js';

/**
 * `hastack secrets rotate [NAME...]`: new passwords, changed in the engines in an order that never
 * breaks replication, Sentinel or the clients, then in secrets.json, then the clients restarted
 * one at a time. Every engine takes the old and the new password side by side until the clients
 * moved over (Redis and Sentinel: two ACL passwords; MariaDB: an authentication chain), then the
 * old one goes: no client is refused at any point.
 *
 * Journaled in `<stateDir>/secrets-rotation.json` (0600: it holds the old and new values until the
 * rotation ends): a re-run after an interruption resumes with the same new passwords and skips
 * the steps done. Every step goes to the event log.
 */

export interface RotateOptions {
  readonly topo: Topology;
  /** Default: every secret. */
  readonly names?: readonly string[];
  readonly dryRun?: boolean;
  readonly print: (line: string) => void;
}

export interface RotateResult {
  readonly rotated: readonly SecretName[];
  readonly steps: readonly string[];
  readonly resumed: boolean;
}

/** What rotate changes: the engines' passwords (not keepalived's vrrpPassword, nor the app's sessionKey, whose change ends every session, nor the LBs' tlsTicketSecret, nor their ACME store secrets lbDbPassword and lbStoreKey). */
export type EngineSecret = Exclude<SecretName, 'vrrpPassword' | 'sessionKey' | 'tlsTicketSecret' | 'lbDbPassword' | 'lbStoreKey' | 'etcdRootPassword'>;

export interface RotationJournal {
  readonly startedAt: string;
  readonly names: EngineSecret[];
  readonly old: Partial<Secrets>;
  readonly next: Partial<Secrets>;
  readonly done: string[];
}

interface Step {
  readonly id: string;
  readonly what: string;
  readonly run: () => Promise<void>;
}

/** A restarted app or worker is back in well under 10 s here; a minute bounds a slow machine. */
const RESTART_TIMEOUT_MS = 60_000;
const POLL_MS = 200;
/** The supervisor looks at secrets.json every second; 15 s allows a very busy machine. */
const SUPERVISOR_RELOAD_MS = 15_000;
/** A binlogged ALTER USER may wait for a semi-sync replica's acknowledgement. */
const WRITE_SLACK_MS = 5_000;

export function rotationJournalFile(stateDir: string): string {
  return path.join(stateDir, 'secrets-rotation.json');
}

export function readRotationJournal(stateDir: string): RotationJournal | undefined {
  try {
    return JSON.parse(fs.readFileSync(rotationJournalFile(stateDir), 'utf8')) as RotationJournal;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `${rotationJournalFile(stateDir)} is unreadable (${describeError(e)}); it holds the passwords of an unfinished rotation: inspect it before removing it`,
    );
  }
}

export function writeRotationJournal(stateDir: string, j: RotationJournal): void {
  const file = rotationJournalFile(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(j, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

function ctxFor(topo: Topology, secrets: Secrets, svc: ServiceInstance): ServiceContext {
  return { topo, secrets, svc, asRoot: os.userInfo().uid === 0 };
}

/**
 * An app server is back only once every load balancer routes to it again (after `lb.rise` good
 * checks): restarting the next one sooner would leave the load balancers with no app server.
 */
async function backInEveryLb(topo: Topology, svc: ServiceInstance): Promise<boolean> {
  if (svc.kind !== 'app') return true;
  for (const lb of servicesOf(topo, 'lb')) {
    try {
      const res = await fetch(`http://${lb.address}:${lb.port}/-/healthz`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { backends?: Array<{ id: string; healthy: boolean }> };
      if (body.backends?.find((b) => b.id === svc.id)?.healthy !== true) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Local and netns: SIGTERM (a graceful stop); the supervisor starts it again; wait until it is healthy. */
async function restartLocal(topo: Topology, secrets: Secrets, svc: ServiceInstance): Promise<void> {
  const before = readRunState(topo.stateDir)?.services[svc.id]?.pid;
  if (before === undefined) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `${svc.id} is not running (no pid in ${topo.stateDir}/run.json)`);
  process.kill(before, 'SIGTERM');
  const deadline = Date.now() + RESTART_TIMEOUT_MS;
  const ctx = ctxFor(topo, secrets, svc);
  for (;;) {
    const pid = readRunState(topo.stateDir)?.services[svc.id]?.pid;
    if (pid !== undefined && pid !== before && (await driverFor(svc.kind).probe(ctx, 1_000)).healthy && (await backInEveryLb(topo, svc))) return;
    if (Date.now() > deadline)
      throw new HastackError(
        ErrorCode.HEALTH_TIMEOUT,
        `${svc.id} is not back and healthy ${RESTART_TIMEOUT_MS / 1000} s after its restart; see "hastack logs ${svc.node} ${svc.kind}", then run the rotation again`,
      );
    await sleep(POLL_MS);
  }
}

/** The node that takes writes: the replication primary (read_only off), any Galera node. */
async function dbPrimary(topo: Topology, secrets: Secrets, roots: readonly string[]): Promise<ServiceInstance> {
  const dbs = servicesOf(topo, 'mariadb');
  const writable: ServiceInstance[] = [];
  for (const svc of dbs) if (await withRoot(ctxFor(topo, secrets, svc), roots, isWritable)) writable.push(svc);
  if (topo.config.database.mode === 'galera' && writable[0]) return writable[0];
  if (writable.length !== 1 || !writable[0]) {
    throw new HastackError(
      ErrorCode.DB_UNAVAILABLE,
      `found ${writable.length} writable database node(s) (${writable.map((s) => s.node).join(', ') || 'none'}); rotate needs exactly one primary: fix replication first`,
    );
  }
  return writable[0];
}

export const ROTATABLE: readonly EngineSecret[] = ['redisPassword', 'sentinelPassword', 'dbRootPassword', 'dbAppPassword', 'dbReplPassword'];

export function pick(names: readonly string[] | undefined): EngineSecret[] {
  if (names === undefined || names.length === 0) return [...ROTATABLE];
  const bad = names.filter((n) => !(ROTATABLE as readonly string[]).includes(n));
  if (bad.length > 0) throw new HastackError(ErrorCode.BAD_REQUEST, `secrets rotate cannot change ${bad.map((b) => `"${b}"`).join(', ')}; it rotates ${ROTATABLE.join(', ')}`);
  return ROTATABLE.filter((k) => names.includes(k));
}

function buildSteps(topo: Topology, current: Secrets, j: RotationJournal): Step[] {
  const has = (k: EngineSecret): boolean => j.names.includes(k);
  const oldOf = (k: EngineSecret): string => j.old[k] ?? current[k];
  const newOf = (k: EngineSecret): string => j.next[k] ?? current[k];
  // Every engine call tries the new password first: after an interruption either may be in force.
  const roots = [newOf('dbRootPassword'), oldOf('dbRootPassword')];
  const sentinelPws = [newOf('sentinelPassword'), oldOf('sentinelPassword')];
  const redis = servicesOf(topo, 'redis');
  const sentinels = servicesOf(topo, 'sentinel');
  const dbs = servicesOf(topo, 'mariadb');
  const writeMs = topo.config.database.semiSyncTimeoutMs + WRITE_SLACK_MS;
  const steps: Step[] = [];
  const each = (list: readonly ServiceInstance[], id: string, what: string, fn: (svc: ServiceInstance) => Promise<void>): void => {
    for (const svc of list) steps.push({ id: `${id}:${svc.id}`, what: `${svc.id}: ${what}`, run: () => fn(svc) });
  };
  if (has('redisPassword')) {
    const [n, o] = [newOf('redisPassword'), oldOf('redisPassword')];
    each(redis, 'redis-accept', 'Redis accepts the new password beside the old', (s) => redisAcceptPassword(s, n, o));
    each(redis, 'redis-masterauth', 'replicas authenticate to their master with the new password', (s) => redisUsePassword(s, n, o));
    each(sentinels, 'sentinel-auth-pass', 'Sentinel authenticates to Redis with the new password', (s) => sentinelSetAuthPass(s, sentinelPws, topo.config.redis.masterName, n));
  }
  if (has('sentinelPassword')) {
    const [n, o] = [newOf('sentinelPassword'), oldOf('sentinelPassword')];
    each(sentinels, 'sentinel-accept', 'Sentinel accepts the new password beside the old', (s) => sentinelAcceptPassword(s, n, o));
    each(sentinels, 'sentinel-peer-pass', 'Sentinel authenticates to the other Sentinels with the new password', (s) => sentinelUsePassword(s, n, o));
  }
  const onPrimary = (id: string, what: string, fn: (c: import('mysql2/promise').Connection) => Promise<void>): void => {
    steps.push({
      id,
      what,
      run: async () => {
        const primary = await dbPrimary(topo, current, roots);
        await withRoot(ctxFor(topo, current, primary), roots, fn);
      },
    });
  };
  // MariaDB: every account first takes both passwords (an authentication chain), the replicas
  // switch to the new replication password; the old ones go after the clients restarted.
  const dbAccounts: Array<{ name: EngineSecret; user: string }> = [
    { name: 'dbReplPassword', user: DB_USERS.repl },
    { name: 'dbAppPassword', user: DB_USERS.app },
    { name: 'dbRootPassword', user: DB_USERS.admin },
  ];
  const rotatingDb = dbs.length > 0 ? dbAccounts.filter((a) => has(a.name)) : [];
  for (const a of rotatingDb) {
    onPrimary(`db-accept:${a.user}`, `database: account ${a.user} accepts the new password beside the old (on the primary, replicated)`, (c) =>
      alterAccount(c, a.user, [newOf(a.name), oldOf(a.name)], writeMs),
    );
  }
  if (has('dbRootPassword')) {
    each(dbs, 'db-root-accept', "root's local accounts accept the new password beside the old", (s) =>
      withRoot(ctxFor(topo, current, s), roots, (c) => alterLocalRoot(c, [newOf('dbRootPassword'), oldOf('dbRootPassword')])),
    );
  }
  if (has('dbReplPassword') && topo.config.database.mode === 'replication') {
    const n = newOf('dbReplPassword');
    each(dbs, 'db-repl-replica', 'replica logs in to its primary with the new password (replication restarted)', async (s) => {
      await withRoot(ctxFor(topo, current, s), roots, async (c) => void (await setReplicationPassword(c, n)));
    });
  }
  steps.push({
    id: 'save',
    what: `${secretsFile(topo.stateDir)}: the new passwords saved (the supervisor renders and probes with them from now on)`,
    run: async () => {
      const merged = { ...current } as Record<SecretName, string>;
      for (const k of j.names) merged[k] = newOf(k);
      const offset = eventsSize(topo.stateDir);
      writeSecrets(topo.stateDir, merged);
      // The supervisor (statting the file every second) must use the new passwords before any
      // old one goes; its event says it does. No supervisor running: nothing to wait for.
      const deadline = Date.now() + SUPERVISOR_RELOAD_MS;
      while (readRunState(topo.stateDir) !== undefined && !readEventsFrom(topo.stateDir, offset).events.some((e) => e.message === SECRETS_RELOADED)) {
        if (Date.now() > deadline)
          throw new HastackError(
            ErrorCode.TIMEOUT,
            `the supervisor did not pick up the saved passwords within ${SUPERVISOR_RELOAD_MS / 1000} s; is it running ("hastack status")? Run the rotation again to resume`,
          );
        await sleep(POLL_MS);
      }
    },
  });
  const saved = (): Secrets => requireAllSecrets(readSecretsFile(secretsFile(topo.stateDir)) ?? {}, secretsFile(topo.stateDir));
  if (j.names.some((k) => k === 'redisPassword' || k === 'sentinelPassword' || k === 'dbAppPassword')) {
    // One at a time, each healthy before the next: the load balancers keep using the others.
    each([...servicesOf(topo, 'app'), ...servicesOf(topo, 'worker')], 'restart', 'restarted with the new passwords', (s) => restartLocal(topo, saved(), s));
  }
  for (const a of rotatingDb) {
    onPrimary(`db-drop-old:${a.user}`, `database: account ${a.user} takes only the new password (on the primary, replicated)`, (c) =>
      alterAccount(c, a.user, [newOf(a.name)], writeMs),
    );
  }
  if (has('dbRootPassword')) {
    each(dbs, 'db-root-drop-old', "root's local accounts take only the new password", (s) =>
      withRoot(ctxFor(topo, current, s), roots, (c) => alterLocalRoot(c, [newOf('dbRootPassword')])),
    );
  }
  if (has('redisPassword')) {
    const [n, o] = [newOf('redisPassword'), oldOf('redisPassword')];
    each(redis, 'redis-drop-old', 'Redis takes only the new password', (s) => redisDropOldPassword(s, n, o));
  }
  if (has('sentinelPassword')) {
    const [n, o] = [newOf('sentinelPassword'), oldOf('sentinelPassword')];
    each(sentinels, 'sentinel-drop-old', 'Sentinel takes only the new password', (s) => sentinelDropOldPassword(s, n, o));
  }
  return steps;
}

export async function rotateSecrets(o: RotateOptions): Promise<RotateResult> {
  const { topo } = o;
  if (!substrateTraits(topo.config).supervised) {
    throw new HastackError(
      ErrorCode.BAD_REQUEST,
      'rotateSecrets changes the passwords of a cluster on this machine (local, netns); a "substrate: hosts" cluster rotates through its host agents (rotateOnHosts, src/hosts/rotate.ts), which "hastack secrets rotate" picks by itself',
    );
  }
  const file = secretsFile(topo.stateDir);
  const current = requireAllSecrets(readSecretsFile(file) ?? {}, file);
  let j = readRotationJournal(topo.stateDir);
  const resumed = j !== undefined;
  if (j) {
    const asked = o.names && o.names.length > 0 ? pick(o.names) : j.names;
    if (asked.join() !== j.names.join()) {
      throw new HastackError(
        ErrorCode.BAD_REQUEST,
        `an unfinished rotation of ${j.names.join(', ')} (started ${j.startedAt}) must end first: run "secrets rotate" without names to resume it`,
      );
    }
  } else {
    const names = pick(o.names);
    j = {
      startedAt: new Date().toISOString(),
      names,
      old: Object.fromEntries(names.map((k) => [k, current[k]])),
      next: Object.fromEntries(names.map((k) => [k, generateSecret()])),
      done: [],
    };
  }
  const journal = j;
  const steps = buildSteps(topo, heldSecrets(current, file), journal);
  return runRotationSteps(topo, journal, steps, { ...o, resumed, where: '', done: 'rotated' });
}

/** What `secrets rotate --dry-run` shows: the secrets, where, whether it resumes, the steps left. */
export interface RotationPlan {
  readonly names: readonly string[];
  /** '' on this machine; ' on N host(s)' among hosts. */
  readonly where: string;
  readonly resumed: boolean;
  readonly steps: readonly string[];
}

/** The dry run's lines. Pure. */
export function describeRotationPlan(p: RotationPlan): string[] {
  return [`${p.resumed ? 'resuming' : 'rotating'} ${p.names.join(', ')}${p.where}: ${p.steps.length} step(s)`, ...p.steps.map((s) => `  - ${s}`), 'dry run: nothing was changed'];
}

/** One step of a rotation: `id` is stable across runs (the journal records the ids done). */
export interface RotationStep {
  readonly id: string;
  readonly what: string;
  run(): Promise<void>;
}

/**
 * Runs the steps a rotation has not done yet, in order, and journals each once it has run, so an
 * interrupted rotation resumes at the step it stopped at with the same new passwords (the journal
 * is written before the first change). Each step goes to the event log and to `print`, with its
 * place and the time since the start. The one loop both rotations use (here and over SSH).
 */
export async function runRotationSteps(
  topo: Topology,
  journal: RotationJournal,
  steps: readonly RotationStep[],
  o: { readonly dryRun?: boolean; readonly resumed: boolean; print(line: string): void; readonly where: string; readonly done: string },
): Promise<RotateResult> {
  const todo = steps.filter((s) => !journal.done.includes(s.id));
  const names = journal.names.join(', ');
  if (o.dryRun === true) {
    for (const line of describeRotationPlan({ names: journal.names, where: o.where, resumed: o.resumed, steps: todo.map((s) => s.what) })) o.print(line);
    return { rotated: journal.names, steps: todo.map((s) => s.what), resumed: o.resumed };
  }
  const t0 = Date.now();
  const event = (message: string): void => {
    appendEvent(topo.stateDir, { type: 'step', message: `secrets rotate: ${message}` });
    o.print(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}`);
  };
  writeRotationJournal(topo.stateDir, journal);
  event(`${o.resumed ? 'resuming the rotation of' : 'rotating'} ${names}${o.where} (${todo.length} of ${steps.length} step(s) to do)`);
  let i = steps.length - todo.length;
  for (const s of todo) {
    i++;
    try {
      await s.run();
    } catch (e) {
      event(`FAILED: ${s.what}: ${describeError(e)}`);
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `secrets rotate stopped at "${s.what}": ${describeError(e)}; fix that, then run "secrets rotate" again to resume (the new passwords are kept in ${rotationJournalFile(topo.stateDir)})`,
      );
    }
    journal.done.push(s.id);
    writeRotationJournal(topo.stateDir, journal);
    event(`[${i}/${steps.length}] ${s.what}`);
  }
  fs.rmSync(rotationJournalFile(topo.stateDir), { force: true });
  event(`done: ${names} ${o.done}`);
  return { rotated: journal.names, steps: todo.map((s) => s.what), resumed: o.resumed };
}
