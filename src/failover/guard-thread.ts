import { Worker } from 'node:worker_threads';
import { closeThread, type CloseMessage } from './thread-close.js';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { DB_USERS } from '../engines/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { stopWrites, withDb } from './db-ops.js';
import type { NodeFencer } from './fence.js';
import { FENCE_AFTER_MS } from './quorum.js';

/*
 * The primary guards (self-fence.ts) on a thread of their own. A guard renews a 2 s lease every
 * 500 ms and fences its primary when a renewal is 1.2 s old, which leaves 700 ms for a late round.
 * The supervisor's event loop, which also starts, probes and restarts every service of the node,
 * was measured stalling 1.3 s on a loaded 2-core machine (CI: garbage collection, spawns and
 * synchronous writes of the supervisor itself): the guard fenced a healthy primary, its lease ran
 * out, and the controllers failed over a server that was fine. A worker thread has its own event
 * loop and heap, so nothing the supervisor does delays a renewal.
 *
 * The watchdog (issue 23: "a watchdog stops a node whose controller loop is stuck"). A guard that
 * cannot run cannot fence, and its primary would go on taking writes after its lease ran out and
 * a controller promoted another node. Each guard writes the time of every round's start, and
 * whether it holds the primary, into memory shared with this (the main) thread; reading it needs
 * no message, so a stall of the main thread never looks like a silent guard. When the guard of
 * the primary has not started a round for 1.4 s (STUCK_AFTER_MS), the watchdog fences that
 * server from here (read-only, shut to the app, its sessions killed, as the guard would have),
 * or, if that server does not answer within a second, kills its node through the supervisor;
 * then it ends the stuck thread and starts a new one. The
 * stuck guard's lease runs out and the controllers fail over. (Like Patroni's watchdog, which
 * resets a machine whose Patroni loop is stuck, but without taking down the rest of the node.)
 *
 * A thread that dies (it should not: a round never throws) is started again after a second, with
 * an event: its guards' leases run out meanwhile and the primary is failed over if it must be.
 */

export interface GuardThreadData {
  readonly topo: Topology;
  readonly secrets: Secrets;
  /** The database nodes guarded here (hosts: this machine's); absent: every one. */
  readonly only?: readonly string[];
  /** Per guard (guardedDbs' order): ms since the epoch of its last round's start (BigInt64Array). */
  readonly beats: SharedArrayBuffer;
  /** Per guard: 1 while it holds the primary (Int32Array). */
  readonly holding: SharedArrayBuffer;
}

/** The watchdog's look at the guards: every 100 ms. */
const WATCHDOG_EVERY_MS = 100;
/**
 * A guard of the primary silent this long is stuck. A round renews the lease as it starts, so the
 * lease lasts at least LEASE_TTL_S from the last beat: 1.4 s leaves 500 ms for the look and the
 * fence (ms on a live server). Past FENCE_AFTER_MS, where the guard fences itself (a renewal 1.2 s
 * old, which a round beating on time never has), so a guard merely slow is not stopped for it.
 */
const STUCK_AFTER_MS = FENCE_AFTER_MS + 200;
// The watchdog's own fence: the server answers in ms; one that does not is stopped by its node's kill.
const WATCHDOG_FENCE_MS = 1_000;

export type GuardThreadMessage = CloseMessage;

/** The database services guarded by one thread: those on the nodes `only` names, else all. */
export function guardedDbs(topo: Topology, only: readonly string[] | undefined): ServiceInstance[] {
  return servicesOf(topo, 'mariadb').filter((db) => only === undefined || only.includes(db.node));
}

const RESTART_MS = 1_000;
const CLOSE_TIMEOUT_MS = 5_000;

export class GuardThread {
  private worker: Worker | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private started = 0;
  private readonly dbs: readonly ServiceInstance[];
  private readonly beats: BigInt64Array;
  private readonly holding: Int32Array;
  private readonly data: GuardThreadData;

  constructor(
    private readonly topo: Topology,
    private readonly secrets: Secrets,
    private readonly fencer: NodeFencer,
    only?: readonly string[],
  ) {
    this.dbs = guardedDbs(topo, only);
    const beats = new SharedArrayBuffer(8 * this.dbs.length);
    const holding = new SharedArrayBuffer(4 * this.dbs.length);
    this.beats = new BigInt64Array(beats);
    this.holding = new Int32Array(holding);
    this.data = { topo, secrets, beats, holding, ...(only ? { only } : {}) };
  }

  /** How many guards run (one per database node). */
  get count(): number {
    return this.dbs.length;
  }

  start(): void {
    if (this.closed || this.worker) return;
    this.holding.fill(0);
    // A thread started again runs without failpoints: the process has hit them (failpoints.ts).
    const env = this.started++ === 0 ? process.env : { ...process.env, HASTACK_FAILPOINTS: '' };
    const w = new Worker(new URL('./guard-worker.js', import.meta.url), { workerData: this.data, env });
    this.worker = w;
    w.on('error', (e) => this.died(w, `failed: ${e.message}`));
    w.on('exit', (code) => this.died(w, `exited with code ${code}`));
    if (!this.watchdog) {
      this.watchdog = setInterval(() => this.watch(), WATCHDOG_EVERY_MS);
      this.watchdog.unref();
    }
  }

  /** The watchdog's look: the guard of a primary that stopped beating has its server stopped. */
  private watch(): void {
    const w = this.worker;
    if (!w) return;
    const now = Date.now();
    this.dbs.forEach((db, i) => {
      if (Atomics.load(this.holding, i) !== 1) return;
      const silent = now - Number(Atomics.load(this.beats, i));
      if (silent <= STUCK_AFTER_MS) return;
      Atomics.store(this.holding, i, 0);
      void this.stopStuck(w, db, silent);
    });
  }

  private async stopStuck(w: Worker, db: ServiceInstance, silent: number): Promise<void> {
    const why = `the guard of ${db.node}, which holds the primary's lease, has not run a round for ${silent} ms (its loop is stuck)`;
    let how: string;
    try {
      const r = await withDb({ topo: this.topo, secrets: this.secrets }, db, (c) => stopWrites(c, DB_USERS.app, true), WATCHDOG_FENCE_MS);
      how = `fenced it (read_only, ${r.shut ? 'closed to the app' : 'NOT closed to the app'}, ${r.killed} app session(s) killed)`;
    } catch (e) {
      await this.fencer.killNode(db.node);
      how = `could not fence it (${describeError(e)}): killed its node (down until healed)`;
    }
    appendEvent(this.topo.stateDir, {
      type: 'quorum.fence',
      message: `watchdog: ${why}; ${how}; the guards' thread is started again, and the controllers fail over once its lease runs out`,
      data: { node: db.node, watchdog: true, silentMs: silent },
    });
    // Ends the stuck thread; its exit starts a new one (died).
    if (this.worker === w) await w.terminate();
  }

  private died(w: Worker, why: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (this.closed) return;
    appendEvent(this.data.topo.stateDir, {
      type: 'quorum.fence',
      message: `the primary guards' thread ${why}: starting it again in ${RESTART_MS} ms (meanwhile no lease is renewed)`,
      data: { failed: true },
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, RESTART_MS);
  }

  /** Stops the guards and revokes their leases (a clean stop: the next holder need not wait out the TTL). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchdog);
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    await closeThread(w, CLOSE_TIMEOUT_MS);
  }
}
