import { Worker } from 'node:worker_threads';
import { closeThread, type CloseMessage } from './thread-close.js';
import type { Secrets, Topology } from '../config/index.js';
import { appendEvent } from '../shared/events.js';

/*
 * The controllers' election (quorum.ts `Election`) on a thread of its own, as the primary guards
 * (guard-thread.ts). A leader beats every 250 ms and acts for 700 ms after a beat it sent; the
 * supervisor's event loop stalls up to 1.9 s on a loaded 2-core machine, so an election run there
 * would lose the lead under load and hand it around (each new leader times a loss afresh: a
 * slower failover). On this thread nothing the supervisor does delays a beat.
 *
 * What the main thread needs is one number per controller, read without a message (a queued
 * message would be as late as the stall): until when it may act (ms since the epoch, 0: it does not
 * lead), in shared memory. Who holds the election and the last etcd error are for log lines only:
 * they come as messages.
 */

export interface ElectionThreadData {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly identities: readonly string[];
  /** Per identity: until when it may act, ms since the epoch, 0 when it does not lead (BigInt64Array). */
  readonly actsUntil: SharedArrayBuffer;
  /** The controllers' own thread's last pulse, ms since the epoch (BigInt64Array of one). */
  readonly pulse: SharedArrayBuffer;
}

/** The controllers' thread pulses this often into shared memory. */
const PULSE_MS = 100;
/**
 * The watchdog of the controllers' loop (issue 23): the election thread steps a controller down
 * when its own thread has not pulsed for this long. The supervisor's event loop was measured
 * stalling up to 1.9 s under load: twice that is stuck, not slow.
 */
export const MAIN_STUCK_MS = 4_000;

export type ElectionThreadMessage =
  | CloseMessage
  /** Stop one controller's election as if its process were killed: no resignation. */
  | { readonly type: 'abandon'; readonly identity: string }
  | { readonly type: 'seen'; readonly identity: string; readonly holder: string | undefined; readonly lastError: string | undefined };

/** What a controller (auto.ts) asks of its election, wherever it runs. */
export interface LeaderElection {
  readonly identity: string;
  isLeader(): boolean;
  /** The controller that holds the election, as last seen. */
  holder(): string | undefined;
  lastError(): string | undefined;
  /** Stops taking part as a killed controller would (its term runs out; nobody is told). */
  abandon(): void;
}

const RESTART_MS = 1_000;
const CLOSE_TIMEOUT_MS = 5_000;

export class ElectionThread {
  private worker: Worker | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly actsUntil: BigInt64Array;
  private readonly pulse: BigInt64Array;
  private pulseTimer: NodeJS.Timeout | undefined;
  private readonly data: ElectionThreadData;
  private readonly seen = new Map<string, { holder: string | undefined; lastError: string | undefined }>();
  private readonly abandoned = new Set<string>();

  constructor(topo: Topology, secrets: Secrets, identities: readonly string[]) {
    const buf = new SharedArrayBuffer(8 * identities.length);
    const pulse = new SharedArrayBuffer(8);
    this.actsUntil = new BigInt64Array(buf);
    this.pulse = new BigInt64Array(pulse);
    this.data = { topo, secrets, identities, actsUntil: buf, pulse };
  }

  start(): void {
    if (this.closed || this.worker) return;
    this.actsUntil.fill(0n);
    Atomics.store(this.pulse, 0, BigInt(Date.now()));
    if (!this.pulseTimer) {
      this.pulseTimer = setInterval(() => Atomics.store(this.pulse, 0, BigInt(Date.now())), PULSE_MS);
      this.pulseTimer.unref();
    }
    const w = new Worker(new URL('./election-worker.js', import.meta.url), { workerData: this.data });
    this.worker = w;
    w.on('message', (m: ElectionThreadMessage) => {
      if (m.type === 'seen') this.seen.set(m.identity, { holder: m.holder, lastError: m.lastError });
    });
    w.on('error', (e) => this.died(w, `failed: ${e.message}`));
    w.on('exit', (code) => this.died(w, `exited with code ${code}`));
    // An abandoned controller stays so in a thread started again.
    for (const identity of this.abandoned) w.postMessage({ type: 'abandon', identity } satisfies ElectionThreadMessage);
  }

  /** The view one controller has of its election. */
  election(identity: string): LeaderElection {
    const i = this.data.identities.indexOf(identity);
    if (i < 0) throw new Error(`no election for ${identity}`);
    return {
      identity,
      isLeader: () => !this.abandoned.has(identity) && Date.now() < Number(Atomics.load(this.actsUntil, i)),
      holder: () => this.seen.get(identity)?.holder,
      lastError: () => this.seen.get(identity)?.lastError,
      abandon: () => {
        this.abandoned.add(identity);
        this.worker?.postMessage({ type: 'abandon', identity } satisfies ElectionThreadMessage);
      },
    };
  }

  private died(w: Worker, why: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.actsUntil.fill(0n);
    if (this.closed) return;
    appendEvent(this.data.topo.stateDir, {
      type: 'quorum.leader',
      message: `the controllers' election thread ${why}: starting it again in ${RESTART_MS} ms (meanwhile no controller acts)`,
      data: { failed: true },
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.start();
    }, RESTART_MS);
  }

  /** Every controller resigns (a clean stop: the next leader need not wait out a term). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.pulseTimer);
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    this.actsUntil.fill(0n);
    await closeThread(w, CLOSE_TIMEOUT_MS);
  }
}
