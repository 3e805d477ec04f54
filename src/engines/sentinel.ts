import fs from 'node:fs';
import path from 'node:path';
import type { Secrets, ServiceInstance, Topology } from '../config/index.js';
import { findService, servicesOf } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { hostPort, writeFileAtomic } from './common.js';
import { asStringArray, flatPairs, withRedis, type RedisRun } from './redis-client.js';
import type { ProbeResult, ServiceContext, ServiceDriver } from '../registry/index.js';

/** A Redis address as Sentinel reports it. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

export interface SentinelConfParams {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  readonly masterName: string;
  readonly master: RedisAddress;
  readonly quorum: number;
  readonly downAfterMs: number;
  readonly failoverTimeoutMs: number;
  readonly redisPassword: string;
  readonly sentinelPassword: string;
}

/** Double-quoted for redis.conf / sentinel.conf; hastack's secrets are base64url, so this is belt and braces. */
export function confQuote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * sentinel.conf as hastack writes it the first time. Sentinel then owns the file (it records the
 * current master, known replicas and sentinels, and epochs in it), so it is never rendered again.
 */
export function renderSentinelConf(p: SentinelConfParams): string {
  const m = p.masterName;
  return [
    `# Written by hastack for ${p.id} on its first start. Sentinel rewrites this file itself`,
    '# (current master, known replicas and sentinels, epochs); hastack never renders it again.',
    `port ${p.port}`,
    `bind ${p.address}`,
    // On loopback every outgoing connection would otherwise leave from 127.0.0.1: all sentinels
    // then announce 127.0.0.1:26379, take each other for one restarting sentinel
    // (+sentinel-invalid-addr) and never count two others. Announce and send from our own address.
    `bind-source-addr ${p.address}`,
    `sentinel announce-ip ${p.address}`,
    `sentinel announce-port ${p.port}`,
    'daemonize no',
    // stdout: the supervisor appends it to service.log.
    'logfile ""',
    `dir ${confQuote(p.dir)}`,
    // Bound to one node address and password-protected; protected mode would only refuse peers.
    'protected-mode no',
    `requirepass ${confQuote(p.sentinelPassword)}`,
    // Nodes are addresses, never names: no resolver in the failover path.
    'sentinel resolve-hostnames no',
    'sentinel announce-hostnames no',
    `sentinel monitor ${m} ${p.master.host} ${p.master.port} ${p.quorum}`,
    `sentinel auth-pass ${m} ${confQuote(p.redisPassword)}`,
    // down-after (default 1.5 s): on a LAN a live Redis answers PING in under a millisecond, so
    // 1.5 s of silence is a dead or frozen master, not a slow one; shorter risks a spurious
    // failover when the machine is briefly saturated (a 2-core host under load stalls ~100s of
    // ms), longer only lengthens the write pause (ENGINE-NOTES: 1 s gave 2.2-2.5 s outages).
    `sentinel down-after-milliseconds ${m} ${p.downAfterMs}`,
    `sentinel failover-timeout ${m} ${p.failoverTimeoutMs}`,
    // One replica resyncs at a time, so the others keep serving reads during a failover.
    `sentinel parallel-syncs ${m} 1`,
    // Sentinels authenticate to each other with the same password clients use.
    `sentinel sentinel-pass ${confQuote(p.sentinelPassword)}`,
    '',
  ].join('\n');
}

export function sentinelConfFile(svc: ServiceInstance): string {
  return path.join(svc.dir, 'sentinel.conf');
}

/** The Redis service of the initial master: what a brand-new Sentinel monitors. */
export function initialRedisMasterAddress(topo: Topology): RedisAddress {
  const svc = findService(topo, topo.initialRedisMaster, 'redis');
  if (!svc) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, 'the topology has sentinels but no redis service; add "redis" to a node');
  }
  return { host: svc.address, port: svc.port };
}

// A sentinel on loopback answers in well under a millisecond; 1 s only ends the wait on a frozen
// (SIGSTOPped) one, and keeps `hastack status` responsive when a node is paused.
const ADMIN_TIMEOUT_MS = 1000;

function target(secrets: Secrets, svc: ServiceInstance): { host: string; port: number; password: string } {
  return { host: svc.address, port: svc.port, password: secrets.sentinelPassword };
}

function parseAddr(reply: unknown): RedisAddress | undefined {
  const arr = asStringArray(reply);
  const host = arr[0];
  const port = Number(arr[1]);
  if (!host || !Number.isInteger(port) || port <= 0) return undefined;
  return { host, port };
}

/** What one Sentinel says about the monitored master (SENTINEL MASTER, one round trip). */
/**
 * SENTINEL MASTERS, not SENTINEL MASTER <name>: a master this Sentinel does not monitor is then an
 * empty answer ({}), where the latter replies a bare ERR whose only sign is its prose.
 */
async function sentinelMasterInfo(secrets: Secrets, svc: ServiceInstance, masterName: string, timeoutMs: number): Promise<Record<string, string>> {
  return withRedis(target(secrets, svc), timeoutMs, async (r) => {
    const all: unknown = await r.call('SENTINEL', 'MASTERS');
    const masters = Array.isArray(all) ? all.map((m) => flatPairs(m)) : [];
    return masters.find((m) => m['name'] === masterName) ?? {};
  });
}

/** The master this Sentinel currently names, or undefined if it monitors no master of that name. */
export async function sentinelMasterAddr(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<RedisAddress | undefined> {
  const name = ctx.topo.config.redis.masterName;
  return withRedis(target(ctx.secrets, ctx.svc), timeoutMs, async (r) => parseAddr(await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)));
}

/**
 * The master the Sentinels name, or undefined when fewer than `quorum` of them answer. Used before
 * (re)starting a Redis node, so that a node that was master before a failover comes back as a
 * replica of the new master instead of announcing itself as master with old data.
 *
 * The answer with the highest config epoch wins: right after a failover some Sentinels still name
 * the old master for a few hundred ms, and a plain majority vote would then pick the old one. A
 * newer epoch exists only if a majority of Sentinels elected the leader that made that failover.
 */
export async function askSentinelsForMaster(topo: Topology, secrets: Secrets, timeoutMs = 500): Promise<RedisAddress | undefined> {
  return pickMaster(await sentinelAnswers(topo, secrets, timeoutMs), sentinelQuorum(topo));
}

/** How many Sentinel answers `askSentinelsForMaster` needs: the configured quorum, at most every Sentinel. */
export function sentinelQuorum(topo: Topology): number {
  return Math.min(topo.config.redis.quorum, servicesOf(topo, 'sentinel').length);
}

/**
 * One Sentinel's answer: the master it names, its config epoch (for `pickMaster`), and whether it
 * reaches that master now (`masterUp`: no s_down/o_down flag, no failover under way).
 */
export interface SentinelAnswer {
  readonly addr: RedisAddress;
  readonly epoch: number;
  readonly masterUp: boolean;
}

/** Each reachable Sentinel's answer. */
export async function sentinelAnswers(topo: Topology, secrets: Secrets, timeoutMs = 500, run: RedisRun = withRedis): Promise<SentinelAnswer[]> {
  const name = topo.config.redis.masterName;
  const answers = await Promise.all(
    servicesOf(topo, 'sentinel').map((s) =>
      run(target(secrets, s), timeoutMs, async (r) => {
        // GET-MASTER-ADDR-BY-NAME already names the promoted replica while a failover is under
        // way; SENTINEL MASTER still shows the old master then, until the switch completes.
        const addr = parseAddr(await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name));
        const m = flatPairs(await r.call('SENTINEL', 'MASTER', name));
        const flags = (m['flags'] ?? '').split(',');
        const failingOver = flags.includes('failover_in_progress');
        const masterUp = !failingOver && !flags.some((f) => f === 's_down' || f === 'o_down' || f === 'disconnected');
        // A Sentinel in the middle of a failover has the newest view of all.
        return { addr, epoch: failingOver ? Number.MAX_SAFE_INTEGER : Number(m['config-epoch'] ?? 0), masterUp };
      }).catch(() => undefined),
    ),
  );
  return answers.filter((a): a is SentinelAnswer => a?.addr !== undefined);
}

/** The master named at the highest config epoch, if at least `needed` Sentinels answered. Pure. */
export function pickMaster(answers: ReadonlyArray<{ addr: RedisAddress; epoch: number }>, needed: number): RedisAddress | undefined {
  // Fewer answers than the quorum: maybe we only hear a Sentinel cut off from the others.
  if (answers.length < needed || answers.length === 0) return undefined;
  const top = Math.max(...answers.map((a) => a.epoch));
  const named = new Set(answers.filter((a) => a.epoch === top).map((a) => hostPort(a.addr.host, a.addr.port)));
  // Two masters at one epoch cannot happen after an election; if it does, do not guess.
  if (named.size !== 1) return undefined;
  return answers.find((a) => a.epoch === top)?.addr;
}

function countHealthy(entries: unknown): number {
  if (!Array.isArray(entries)) return 0;
  let n = 0;
  for (const e of entries) {
    const flags = (flatPairs(e)['flags'] ?? '').split(',');
    // A replica or sentinel Sentinel cannot reach would not help in a failover: do not count it.
    if (!flags.some((f) => f === 's_down' || f === 'o_down' || f === 'disconnected')) n += 1;
  }
  return n;
}

/** One Sentinel's view, as waitSentinelsReady reports it. */
export interface SentinelView {
  readonly sentinel: string;
  readonly master?: string;
  readonly replicas: number;
  readonly otherSentinels: number;
  readonly error?: string;
}

async function sentinelView(topo: Topology, secrets: Secrets, svc: ServiceInstance, timeoutMs: number): Promise<SentinelView> {
  const name = topo.config.redis.masterName;
  try {
    return await withRedis(target(secrets, svc), timeoutMs, async (r) => {
      const master = parseAddr(await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name));
      const replicas = countHealthy(await r.call('SENTINEL', 'REPLICAS', name));
      const others = countHealthy(await r.call('SENTINEL', 'SENTINELS', name));
      return {
        sentinel: svc.id,
        ...(master ? { master: hostPort(master.host, master.port) } : {}),
        replicas,
        otherSentinels: others,
      };
    });
  } catch (e) {
    return { sentinel: svc.id, replicas: 0, otherSentinels: 0, error: describeError(e) };
  }
}

/**
 * Waits until every Sentinel sees every Redis replica and every other Sentinel, and all name the
 * same master: only then can they fail over (ENGINE-NOTES: this takes 5–10 s after start, since
 * Sentinels find each other through hello messages published every 2 s on the master).
 * Returns each Sentinel's view; throws HEALTH_TIMEOUT with those views when the wait runs out.
 */
export async function waitSentinelsReady(topo: Topology, secrets: Secrets, timeoutMs: number): Promise<SentinelView[]> {
  const sentinels = servicesOf(topo, 'sentinel');
  if (sentinels.length === 0) return [];
  const wantReplicas = servicesOf(topo, 'redis').length - 1;
  const wantSentinels = sentinels.length - 1;
  const deadline = Date.now() + timeoutMs;
  let views: SentinelView[] = [];
  for (;;) {
    views = await Promise.all(sentinels.map((s) => sentinelView(topo, secrets, s, ADMIN_TIMEOUT_MS)));
    const masters = new Set(views.map((v) => v.master));
    const ready = masters.size === 1 && !masters.has(undefined) && views.every((v) => v.error === undefined && v.replicas >= wantReplicas && v.otherSentinels >= wantSentinels);
    if (ready) return views;
    // 250 ms: Sentinel news arrives every 2 s (hello period), so polling faster only costs queries.
    if (Date.now() + 250 > deadline) break;
    await sleep(250);
  }
  const lines = views.map(
    (v) => `${v.sentinel}: ${v.error ?? `master ${v.master ?? 'unknown'}, ${v.replicas}/${wantReplicas} replicas, ${v.otherSentinels}/${wantSentinels} other sentinels`}`,
  );
  throw new HastackError(
    ErrorCode.HEALTH_TIMEOUT,
    `Sentinels not ready after ${timeoutMs} ms (each must see ${wantReplicas} replica(s) and ${wantSentinels} other sentinel(s) and agree on the master):\n` +
      lines.join('\n') +
      "\nCheck that every redis and sentinel service is running (hastack status) and read the sentinels' service.log.",
    { details: { views } },
  );
}

export const sentinelDriver: ServiceDriver = {
  async prepare(ctx) {
    const { topo, secrets, svc } = ctx;
    fs.mkdirSync(svc.dir, { recursive: true, mode: 0o700 });
    const file = sentinelConfFile(svc);
    // Sentinel's own rewritten copy is the truth about the current master, epochs and peers.
    if (fs.existsSync(file)) return;
    // A Sentinel added (or whose directory was lost) after a failover should monitor the master the
    // others agree on; it would find it anyway after a hello round, but starts right this way.
    const master = (await askSentinelsForMaster(topo, secrets)) ?? initialRedisMasterAddress(topo);
    const r = topo.config.redis;
    const text = renderSentinelConf({
      id: svc.id,
      address: svc.address,
      port: svc.port,
      dir: svc.dir,
      masterName: r.masterName,
      master,
      quorum: r.quorum,
      downAfterMs: r.downAfterMs,
      failoverTimeoutMs: r.failoverTimeoutMs,
      redisPassword: secrets.redisPassword,
      sentinelPassword: secrets.sentinelPassword,
    });
    writeFileAtomic(file, text);
  },

  command(ctx) {
    return { command: 'redis-sentinel', args: [sentinelConfFile(ctx.svc)], cwd: ctx.svc.dir };
  },

  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    const name = ctx.topo.config.redis.masterName;
    try {
      const m = await sentinelMasterInfo(ctx.secrets, ctx.svc, name, timeoutMs);
      if (!m['ip']) return { healthy: false, role: 'sentinel', detail: `monitors no master named "${name}"` };
      const flags = (m['flags'] ?? '').split(',').filter((f) => f !== 'master');
      const detail =
        `master ${m['ip']}:${m['port'] ?? '?'}, ${m['num-slaves'] ?? '0'} replicas, ${m['num-other-sentinels'] ?? '0'} other sentinels` +
        (flags.length > 0 ? ` (master flags: ${flags.join(',')})` : '');
      return { healthy: true, role: 'sentinel', detail };
    } catch (e) {
      return { healthy: false, role: 'sentinel', detail: describeError(e) };
    }
  },
};
