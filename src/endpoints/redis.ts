import { Redis } from 'ioredis';
import { servicesOf, type ServiceInstance } from '../config/index.js';
import { RedisAdminPool, pickMaster, redisRole, sentinelAnswers, sentinelQuorum } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { backoffMs } from '../shared/retry.js';
import type { RunningEndpoint } from './db.js';
import { EndpointCore, type Routing } from './endpoint.js';

// 1 s between polls: the fallback when a +switch-master message was missed (a Sentinel restarting,
// our subscription reconnecting); the message itself arrives within milliseconds of the switch.
const POLL_MS = 1_000;
// 500 ms per Sentinel question and per ROLE: both answer in well under a millisecond; a frozen
// process must not hold the poll.
const ASK_MS = 500;

/** What one check concluded: the confirmed master, or none and whether the old one is demoted. */
export type MasterCheck = { readonly master: string } | { readonly master: undefined; readonly demoted: readonly string[]; readonly why: string };

/**
 * The routing of `redis-endpoint` from a check. Pure. A new master is ready; the previous one
 * loses its connections when it is not the master any more (so no client keeps getting READONLY
 * from it); a master that only stopped answering keeps them (they break by themselves if it is
 * dead) but takes no new ones until a master is confirmed.
 */
export function redisRouting(check: MasterCheck, previous: string | undefined): Routing {
  if (check.master !== undefined) {
    const cut = previous !== undefined && previous !== check.master ? [{ id: previous, why: `the master is ${check.master} now` }] : [];
    return { ready: [check.master], cut, detail: `master ${check.master}` };
  }
  const cut = previous !== undefined && check.demoted.includes(previous) ? [{ id: previous, why: 'demoted to replica' }] : [];
  return { ready: [], cut, detail: `holding new connections: ${check.why}` };
}

/**
 * Follows the Redis master as Sentinel sees it: subscribed to `+switch-master` on every Sentinel
 * (a switch is acted on within milliseconds), and polling GET-MASTER-ADDR-BY-NAME every POLL_MS
 * as a fallback; either way the named master is confirmed with ROLE before it takes traffic
 * (discovery is advice). Without Sentinels: the node whose ROLE says master.
 */
class RedisFollower {
  readonly #redis: readonly ServiceInstance[];
  readonly #subs: Redis[] = [];
  #master: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #check: Promise<void> | undefined;
  #closed = false;
  // The poll's questions, every POLL_MS, on connections kept open between polls.
  readonly #admin: RedisAdminPool;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly core: EndpointCore,
    private readonly log: Logger,
  ) {
    this.#redis = servicesOf(ctx.topo, 'redis');
    this.#admin = new RedisAdminPool(`hastack-redis-endpoint-${ctx.svc.node}`);
    core.onSuspect(() => void this.refresh());
  }

  async start(): Promise<void> {
    const { topo, secrets } = this.ctx;
    const name = topo.config.redis.masterName;
    for (const s of servicesOf(topo, 'sentinel')) {
      const sub = new Redis({
        host: s.address,
        port: s.port,
        password: secrets.sentinelPassword,
        connectTimeout: 2_000,
        // A Sentinel that restarts: resubscribe after 100 ms doubling to 1 s; never give up.
        retryStrategy: (times: number) => backoffMs(times - 1, 100, 1_000),
        maxRetriesPerRequest: null,
        enableReadyCheck: false,
        disableClientInfo: true,
      });
      // Without a listener a refused connection is an unhandled 'error' and ends the process.
      sub.on('error', () => undefined);
      sub.on('message', (_channel: string, msg: string) => {
        // `<master-name> <old-ip> <old-port> <new-ip> <new-port>`
        if (msg.split(' ')[0] === name) {
          this.log.info(`redis-endpoint: +switch-master from ${s.node}: ${msg}`);
          void this.refresh();
        }
      });
      sub.subscribe('+switch-master').catch((e: unknown) => this.log.warn(`redis-endpoint: subscribe on ${s.node}: ${describeError(e)}`));
      this.#subs.push(sub);
    }
    await this.refresh();
    this.#schedule();
  }

  refresh(): Promise<void> {
    this.#check ??= this.#runCheck()
      .catch((e: unknown) => this.log.warn(`redis-endpoint: check failed: ${describeError(e)}`))
      .finally(() => {
        this.#check = undefined;
      });
    return this.#check;
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const s of this.#subs) s.disconnect();
    this.#admin.close();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.refresh().finally(() => this.#schedule()), POLL_MS);
  }

  async #role(svc: ServiceInstance): Promise<'master' | 'replica' | undefined> {
    try {
      return (await redisRole({ ...this.ctx, svc }, ASK_MS, this.#admin.run)).role;
    } catch {
      return undefined;
    }
  }

  async #observe(): Promise<MasterCheck> {
    const { topo, secrets } = this.ctx;
    const hasSentinels = servicesOf(topo, 'sentinel').length > 0;
    let candidates = this.#redis;
    if (hasSentinels) {
      const answers = await sentinelAnswers(topo, secrets, ASK_MS, this.#admin.run);
      let addr = pickMaster(answers, sentinelQuorum(topo));
      // No quorum answers (the `simple` layout after `hastack failover`: one Sentinel of two is
      // left, and it names the master the crash plan promoted): follow what the reachable
      // Sentinels name, but only if ROLE on EVERY Redis node we reach agrees that it is the one
      // master (an old master cut off from the Sentinels but reachable from here still says
      // master: then we hold rather than guess).
      let confirmAll = false;
      if (addr === undefined) {
        addr = pickMaster(answers, 1);
        confirmAll = addr !== undefined;
      }
      const named = addr && this.#redis.find((r) => r.address === addr.host && r.port === addr.port);
      if (!named) {
        const demoted = this.#master !== undefined && (await this.#roleOf(this.#master)) === 'replica' ? [this.#master] : [];
        return { master: undefined, demoted, why: addr ? `Sentinels name ${addr.host}:${addr.port}, not a node of this cluster` : 'no Sentinel names a master' };
      }
      candidates = confirmAll ? this.#redis : [named];
      if (confirmAll) {
        const roles = await Promise.all(candidates.map(async (r) => ({ id: r.node, role: await this.#role(r) })));
        const masters = roles.filter((r) => r.role === 'master');
        if (masters.length === 1 && masters[0]?.id === named.node) return { master: named.node };
        const demoted = roles.filter((r) => r.role === 'replica').map((r) => r.id);
        return { master: undefined, demoted, why: `no quorum of Sentinels, and ROLE does not confirm ${named.node} as the only master` };
      }
    }
    const roles = await Promise.all(candidates.map(async (r) => ({ id: r.node, role: await this.#role(r) })));
    const masters = roles.filter((r) => r.role === 'master');
    if (masters.length === 1 && masters[0]) return { master: masters[0].id };
    const demoted = roles.filter((r) => r.role === 'replica').map((r) => r.id);
    if (this.#master !== undefined && !candidates.some((c) => c.node === this.#master) && (await this.#roleOf(this.#master)) === 'replica') demoted.push(this.#master);
    const why = masters.length > 1 ? `${masters.map((m) => m.id).join(' and ')} both say master` : `${candidates.map((c) => c.node).join(', ')} not confirmed master by ROLE`;
    return { master: undefined, demoted, why };
  }

  #roleOf(id: string): Promise<'master' | 'replica' | undefined> {
    const svc = this.#redis.find((r) => r.node === id);
    return svc ? this.#role(svc) : Promise.resolve(undefined);
  }

  async #runCheck(): Promise<void> {
    const check = await this.#observe();
    if (this.#closed) return;
    const routing = redisRouting(check, this.#master);
    // A master that merely stopped answering stays remembered, so that once it comes back
    // demoted its connections are cut.
    if (check.master !== undefined || routing.cut.length > 0) this.#master = check.master;
    await this.core.route(routing);
  }
}

/** `_service redis-endpoint`: the Redis master. */
export async function startRedisEndpoint(ctx: ServiceContext, log: Logger): Promise<RunningEndpoint> {
  const servers = servicesOf(ctx.topo, 'redis').map((s) => ({ id: s.node, host: s.address, port: s.port }));
  const core = new EndpointCore(ctx, 'redis-endpoint', servers, log, (why) => {
    log.error(`redis-endpoint: ${why}; exiting so the supervisor restarts the endpoint`);
    process.exit(1);
  });
  await core.start();
  const follower = new RedisFollower(ctx, core, log);
  await follower.start();
  return {
    async close() {
      follower.close();
      await core.close();
    },
  };
}
