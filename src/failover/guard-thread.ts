import { Worker } from 'node:worker_threads';
import { servicesOf, type Secrets, type Topology } from '../config/index.js';
import { appendEvent } from '../shared/events.js';

/*
 * The primary guards (self-fence.ts) on a thread of their own. A guard renews a 2 s lease every
 * 500 ms and fences its primary when a renewal is 1.2 s old, which leaves 700 ms for a late round.
 * The supervisor's event loop, which also starts, probes and restarts every service of the node,
 * was measured stalling 1.3 s on a loaded 2-core machine (CI: garbage collection, spawns and
 * synchronous writes of the supervisor itself): the guard fenced a healthy primary, its lease ran
 * out, and the controllers failed over a server that was fine. A worker thread has its own event
 * loop and heap, so nothing the supervisor does delays a renewal.
 *
 * A thread that dies (it should not: a round never throws) is started again after a second, with
 * an event: its guards' leases run out meanwhile and the primary is failed over if it must be.
 */

export interface GuardThreadData {
  readonly topo: Topology;
  readonly secrets: Secrets;
}

export type GuardThreadMessage = { readonly type: 'close' } | { readonly type: 'closed' };

const RESTART_MS = 1_000;
const CLOSE_TIMEOUT_MS = 5_000;

export class GuardThread {
  private worker: Worker | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly data: GuardThreadData) {}

  /** How many guards run (one per database node). */
  get count(): number {
    return servicesOf(this.data.topo, 'mariadb').length;
  }

  start(): void {
    if (this.closed || this.worker) return;
    const w = new Worker(new URL('./guard-worker.js', import.meta.url), { workerData: this.data });
    this.worker = w;
    w.on('error', (e) => this.died(w, `failed: ${e.message}`));
    w.on('exit', (code) => this.died(w, `exited with code ${code}`));
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
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const done = new Promise<void>((resolve) => {
      w.on('message', (m: GuardThreadMessage) => m.type === 'closed' && resolve());
      w.once('exit', () => resolve());
    });
    w.postMessage({ type: 'close' } satisfies GuardThreadMessage);
    const timer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
    await done;
    clearTimeout(timer);
    await w.terminate();
  }
}
