import { request } from 'undici';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Operation } from './history.js';
import { pick } from '../shared/random.js';
import type { ServiceResolver } from './resolver.js';
import { edgeFor } from './edge.js';
import { ATTEMPT_TIMEOUT_MS, Client, READ_MAX_ATTEMPTS, WRITE_DEADLINE_MS, WRITE_MAX_ATTEMPTS, resolverFor, runClients, type WorkloadOptions } from './workload.js';

/**
 * The `records` workload (`chaos.workload: records`): the Python example's API
 * (examples/python/app.py), driven like the ERP's. Each client writes records under an
 * Idempotency-Key (retried with the same key), reads back the records it was told exist, and
 * reads the recent list. No login: the app has no sessions. The answer to a write says whether
 * its job is queued (`job: "queued"`, the outbox row committed with the record): such writes
 * count as acknowledged jobs.
 */
class RecordsClient extends Client {
  constructor(id: number, opts: WorkloadOptions, resolver: ServiceResolver) {
    super(id, opts, resolver);
  }

  /**
   * 40 % writes, 25 % read-backs of an acknowledged record, the rest reads of the recent list; a
   * reader client (WorkloadOptions.readerClients) reads only the recent list.
   */
  protected override async step(): Promise<void> {
    const r = this.random();
    if (this.reader) {
      await this.readRecent();
      return;
    }
    if (r < 0.4) await this.createRecord();
    else if (r < 0.65 && this.acked.length > 0) await this.readRecord();
    else await this.readRecent();
  }

  private async createRecord(): Promise<void> {
    // One key per logical record, reused on every retry; the data carries it too, so a checker
    // can still find duplicates if an app ignored the key.
    const key = `chaos-${this.opts.runId}-${this.id}-${this.n++}`;
    const op: Operation = await this.withRetries(
      'create-record',
      WRITE_MAX_ATTEMPTS,
      WRITE_DEADLINE_MS,
      () => this.attempt('POST', '/records', { data: key }, { 'idempotency-key': key }),
      (res) => {
        const b = res.body as { id?: unknown; job?: unknown } | undefined;
        return (res.status === 201 || res.status === 200) && typeof b?.id === 'number'
          ? { ok: true, orderId: b.id, jobQueued: b.job === 'queued' }
          : { ok: false, error: `HTTP ${res.status}` };
      },
      key,
    );
    if (op.ok && op.orderId !== undefined) this.acked.push(op.orderId);
  }

  private async readRecord(): Promise<void> {
    const id = pick(this.acked, this.random) ?? 0;
    await this.withRetries(
      'read-record',
      READ_MAX_ATTEMPTS,
      ATTEMPT_TIMEOUT_MS * READ_MAX_ATTEMPTS,
      () => this.attempt('GET', `/records/${id}`),
      // A 404 for a record this client was told exists is a failed read (a stale replica).
      (res) => (res.status === 200 && (res.body as { id?: unknown } | undefined)?.id === id ? { ok: true, orderId: id } : { ok: false, error: `HTTP ${res.status}` }),
    );
  }

  private async readRecent(): Promise<void> {
    await this.withRetries(
      'read-recent',
      READ_MAX_ATTEMPTS,
      ATTEMPT_TIMEOUT_MS * READ_MAX_ATTEMPTS,
      () => this.attempt('GET', '/records'),
      (res) => (res.status === 200 ? { ok: true } : { ok: false, error: `HTTP ${res.status}` }),
    );
  }
}

// The setup request: far above a healthy answer; it runs before any fault.
const SETUP_TIMEOUT_MS = 10_000;

/**
 * Before the run: the service answers `GET /records` through a load balancer, so a cluster
 * running another app fails here with a message rather than as a run of 404s.
 */
export async function checkRecordsApp(topo: Topology, https = false): Promise<void> {
  const [address] = await resolverFor(topo).resolve();
  const edge = edgeFor(topo, https);
  const agent = edge.agent({ connectTimeoutMs: 1_000, keepAliveTimeoutMs: 1_000 });
  const url = `${edge.scheme}://${address}:${edge.port}/records`;
  let res: Awaited<ReturnType<typeof request>>;
  let body: string;
  try {
    res = await request(url, { dispatcher: agent, headersTimeout: SETUP_TIMEOUT_MS, bodyTimeout: SETUP_TIMEOUT_MS });
    body = await res.body.text();
  } finally {
    await agent.close();
  }
  if (res.statusCode !== 200 || !body.includes('"records"')) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `chaos.workload is "records" but GET ${url} answered HTTP ${res.statusCode} without a record list; run the Python example (examples/python) or set chaos.workload: erp`,
    );
  }
}

/** Runs the records clients until the duration ends; returns all recorded operations. */
export function runRecordsWorkload(opts: WorkloadOptions): Promise<Operation[]> {
  return runClients(opts, (i, resolver) => new RecordsClient(i, opts, resolver));
}
