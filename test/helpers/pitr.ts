import assert from 'node:assert/strict';
import { readSecrets, type Topology } from '../../src/config/index.js';
import { buildTimeline, readArchive } from '../../src/failover/index.js';
import { runCli } from './cli.js';
import { postOrder } from './orders.js';
import { ordersInKeptScratch, type KeptScratch } from './scratch.js';

/*
 * What the point-in-time recovery tests (pitr, galera-pitr) share: a paced writer of orders that
 * records each one's send and acknowledgement times, a restore into a kept scratch server read
 * back, and the check that a restore to second T holds exactly the orders committed at or before T.
 */

/** One order the writer sent: its customer key, when it was sent and when it was acknowledged. */
export interface Sent {
  readonly key: string;
  readonly sentAt: number;
  ackedAt?: number;
}

export interface RestoreReport {
  readonly restoredTo?: { readonly gtid: string; readonly time: string };
  readonly applied: number;
  readonly backup: string;
  readonly scratch?: KeptScratch;
}

/** The newest transaction seq in the archive (one domain: replication's 0, Galera's write sets). */
export const archivedSeq = (topo: Topology): number => buildTimeline(readArchive(topo)).transactions.at(-1)?.seq ?? 0;

/**
 * One writer through `lb`, paced (20 ms between orders), for `ms` or `maxOrders`, whichever ends
 * first; each order goes into `history` with key `<prefix>-<phase>-<i>`. `sample` runs every
 * `ms / samples` in the background (the archive's lag), awaited before the phase ends.
 */
export async function orderPhase(
  lb: string,
  history: Sent[],
  o: { readonly prefix: string; readonly phase: string; readonly ms: number; readonly maxOrders: number; readonly samples?: number; readonly sample?: () => Promise<void> },
): Promise<number> {
  const end = Date.now() + o.ms;
  let nextSample = Date.now();
  const sampling: Promise<void>[] = [];
  for (let i = 0; i < o.maxOrders && Date.now() < end; i++) {
    const s: Sent = { key: `${o.prefix}-${o.phase}-${i}`, sentAt: Date.now() };
    history.push(s);
    const r = await postOrder(lb, s.key);
    if (r.ok) s.ackedAt = Date.now();
    if (o.sample && Date.now() >= nextSample) {
      nextSample = Date.now() + o.ms / (o.samples ?? 6);
      sampling.push(o.sample());
    }
    await new Promise((res) => setTimeout(res, 20));
  }
  await Promise.all(sampling);
  return Date.now();
}

/**
 * A random whole second T inside a phase: after its first order was sent, before its end. With
 * `laterOrder`, T is also at least a second before an acknowledged order was sent, so the history
 * goes on past T (a restore to T leaves that order out, and a backup taken afterwards is past T):
 * otherwise a T in the phase's last second may follow every commit.
 */
export function randomSecondOf(history: readonly Sent[], prefix: string, phaseEnd: number, o: { readonly laterOrder?: boolean } = {}): { T: number; iso: string } {
  const mine = history.filter((h) => h.key.startsWith(prefix));
  const from = Math.ceil((mine[0]?.sentAt ?? assert.fail(`no orders ${prefix}*`)) / 1000);
  const lastAcked = Math.max(0, ...mine.filter((h) => h.ackedAt).map((h) => h.sentAt));
  const to = Math.floor((o.laterOrder ? Math.min(phaseEnd, lastAcked) : phaseEnd) / 1000) - 1;
  assert.ok(to >= from, 'the phase spans a whole second');
  const T = from + Math.floor(Math.random() * (to - from + 1));
  return { T, iso: new Date(T * 1000).toISOString().replace('.000Z', 'Z') };
}

/** `restore ARGS --verify --keep --json`, then the orders `like` in the kept scratch server (which is then stopped and removed). */
export async function restoreAndRead(
  used: { readonly configFile: string; readonly dir: string; readonly stateDir: string; readonly topo: Topology },
  args: readonly string[],
  like: string,
): Promise<{ rep: RestoreReport; restored: Set<string> }> {
  const r = await runCli(['restore', ...args, '--verify', '--keep', '--json', '-f', used.configFile], { cwd: used.dir, timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rep = JSON.parse(r.stdout) as RestoreReport;
  const scratch = rep.scratch ?? assert.fail('no scratch server kept');
  return { rep, restored: await ordersInKeptScratch(scratch, readSecrets(used.stateDir).dbRootPassword, used.topo.config.database.name, like) };
}

/**
 * Asserts that `restored` holds exactly the orders committed at or before second T: every order
 * acknowledged before T+1 s, none sent at or after T+1 s (T is inclusive to the second; a
 * transaction's binlog time is its statements' start, between send and acknowledgement); the
 * few sent before and acknowledged after T+1 s may be either. Returns the counts.
 */
export function expectAt(history: readonly Sent[], T: number, restored: ReadonlySet<string>): { must: number; mustNot: number; either: Sent[] } {
  const cut = (T + 1) * 1000;
  const must = history.filter((h) => h.ackedAt !== undefined && h.ackedAt < cut).map((h) => h.key);
  const mustNot = history.filter((h) => h.sentAt >= cut).map((h) => h.key);
  const either = history.filter((h) => h.sentAt < cut && !(h.ackedAt !== undefined && h.ackedAt < cut));
  const missing = must.filter((k) => !restored.has(k));
  const extra = mustNot.filter((k) => restored.has(k));
  const unknown = [...restored].filter((k) => !history.some((h) => h.key === k));
  assert.deepEqual(missing, [], 'orders acknowledged at or before T are missing');
  assert.deepEqual(extra, [], 'orders sent after T were restored');
  assert.deepEqual(unknown, []);
  assert.ok(must.length > 0);
  return { must: must.length, mustNot: mustNot.length, either };
}
