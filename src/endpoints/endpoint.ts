import type net from 'node:net';
import path from 'node:path';
import type { EndpointKind } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { HaproxyChild, runtimeApi } from './haproxy.js';
import { Splicer, type Upstream, type UpstreamChooser } from './splice.js';
import { serveStatus, statusSocketPath, type EndpointStatus } from './status.js';

/** Where new connections go now, as a follower (db, redis) decided it from one observation. */
export interface Routing {
  /** The slots that take new connections (empty: new connections are held). */
  readonly ready: readonly string[];
  /** Slots whose open connections must be closed now (a demoted writer, an old master), with why. */
  readonly cut: readonly { readonly id: string; readonly why: string }[];
  /** One line for status and logs. */
  readonly detail: string;
}

/**
 * One endpoint: an HAProxy child carrying the bytes (haproxy.ts says why), one server slot per
 * node the endpoint may reach, and our holder (splice.ts) behind the backup slot for connections
 * that arrive while no slot is ready. Followers call `route()` with each new decision; this class
 * turns it into runtime API commands and keeps the holder and the status socket in step.
 */
export class EndpointCore implements UpstreamChooser {
  readonly #servers: ReadonlyMap<string, Upstream>;
  readonly #holder: Splicer;
  readonly #haproxy: HaproxyChild;
  readonly #socketPath: string;
  #status: net.Server | undefined;
  #ready: string[] = [];
  #detail = 'starting';
  #turn = 0;
  #waiters: Array<() => void> = [];
  #apply: Promise<void> = Promise.resolve();
  #suspect: (id: string) => void = () => undefined;
  #closed = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly kind: EndpointKind,
    servers: readonly Upstream[],
    private readonly log: Logger,
    onFatal: (why: string) => void,
  ) {
    this.#servers = new Map(servers.map((s) => [s.id, s]));
    const e = ctx.topo.config.endpoints;
    this.#holder = new Splicer(`${kind} holder`, this, { maxConnections: e.maxConnections, idleTimeoutMs: e.idleTimeoutS * 1000, holdMs: e.holdMs, connectTimeoutMs: 2_000 }, log);
    this.#haproxy = new HaproxyChild(ctx.svc.dir, log, (code) => onFatal(`haproxy exited (code ${String(code)})`));
    this.#socketPath = path.join(ctx.svc.dir, 'haproxy.sock');
  }

  /** Called by the holder when a dial failed: the follower probes again now. */
  onSuspect(fn: (id: string) => void): void {
    this.#suspect = fn;
  }

  async start(): Promise<void> {
    const e = this.ctx.topo.config.endpoints;
    // The holder on an ephemeral loopback port: only HAProxy, beside it on this node, connects.
    await this.#holder.listen('127.0.0.1', 0);
    await this.#haproxy.start({
      name: this.kind,
      bindAddress: this.ctx.svc.address,
      bindPort: this.ctx.svc.port,
      servers: [...this.#servers.values()],
      holdPort: this.#holder.port(),
      maxConnections: e.maxConnections,
      idleTimeoutS: e.idleTimeoutS,
      socketPath: this.#socketPath,
    });
    this.#status = await serveStatus(statusSocketPath(this.ctx.svc.dir), () => this.status());
  }

  status(): EndpointStatus {
    const s = this.#holder.stats();
    return {
      healthy: this.#ready.length > 0,
      detail: this.#detail,
      upstreams: [...this.#ready],
      // Connections HAProxy carries are counted by HAProxy (`show stat`); these are the holder's.
      connections: s.active,
      holding: s.holding,
      dropped: s.dropped,
    };
  }

  /** Applies a routing decision (serialized: one runtime exchange at a time, in order). */
  route(r: Routing): Promise<void> {
    const next = this.#apply.then(() => this.#route(r));
    this.#apply = next.catch(() => undefined);
    return next;
  }

  async #route(r: Routing): Promise<void> {
    if (this.#closed) return;
    const ready = r.ready.filter((id) => this.#servers.has(id));
    const cmds: string[] = [];
    for (const id of ready) if (!this.#ready.includes(id)) cmds.push(`set server ${this.kind}/${id} state ready`);
    const cut = new Set(r.cut.map((c) => c.id));
    for (const id of this.#ready) if (!ready.includes(id)) cmds.push(`set server ${this.kind}/${id} state maint`);
    for (const id of cut) cmds.push(`shutdown sessions server ${this.kind}/${id}`);
    if (r.detail !== this.#detail) this.log.info({ ready, cut: [...cut] }, `${this.kind}: ${r.detail}`);
    this.#detail = r.detail;
    this.#ready = ready;
    if (cmds.length > 0) {
      try {
        const answer = (await runtimeApi(this.#socketPath, cmds)).trim();
        if (answer !== '') this.log.warn({ answer }, `${this.kind}: HAProxy answered`);
      } catch (e) {
        this.log.error(`${this.kind}: routing change not applied: ${describeError(e)}`);
      }
    }
    for (const c of r.cut) this.#holder.dropUpstream(c.id, c.why);
    if (ready.length > 0) {
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    }
  }

  // ---- UpstreamChooser for the holder: the connections HAProxy sent to the backup slot.

  async choose(deadline: number): Promise<Upstream | undefined> {
    while (!this.#closed) {
      const id = this.#ready.length > 0 ? this.#ready[this.#turn++ % this.#ready.length] : undefined;
      const up = id === undefined ? undefined : this.#servers.get(id);
      if (up !== undefined) return up;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return undefined;
  }

  suspect(id: string): void {
    this.#suspect(id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#waiters) f();
    this.#waiters = [];
    this.#haproxy.stop();
    this.#status?.close();
    await this.#holder.close();
  }
}
