import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { redisRole, type RedisRole } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { runTool } from './backup-tools.js';

/*
 * The Redis part of a backup: which node to snapshot (a replica with its link up, else the master)
 * and its RDB, read from disk on this machine or streamed with `redis-cli --rdb` from another.
 */

// BGSAVE of a queue-sized Redis (maxmemory 128 MB by default) takes well under a few seconds.
const BGSAVE_TIMEOUT_MS = 120_000;

/** The snapshot to take: the node and its role. */
export interface RedisPick {
  readonly svc: ServiceInstance;
  readonly role: string;
}

export async function redisView(topo: Topology, secrets: Secrets): Promise<{ svc: ServiceInstance; role: RedisRole }[]> {
  const asRoot = process.getuid?.() === 0;
  const out: { svc: ServiceInstance; role: RedisRole }[] = [];
  for (const svc of servicesOf(topo, 'redis')) {
    try {
      out.push({ svc, role: await redisRole({ topo, secrets, svc, asRoot }) });
    } catch {
      // not answering: not a candidate
    }
  }
  return out;
}

/**
 * The RDB of a Redis on another machine: `redis-cli --rdb` asks it for a snapshot over the
 * replication protocol (the node forks a BGSAVE and streams it). The password goes in the
 * environment (REDISCLI_AUTH), never in argv.
 */
async function remoteRdb(svc: ServiceInstance, secrets: Secrets, destDir: string, log: string, signal?: AbortSignal): Promise<void> {
  fs.mkdirSync(destDir, { recursive: true });
  await runTool('redis-cli', ['-h', svc.address, '-p', String(svc.port), '--no-auth-warning', '--rdb', path.join(destDir, 'dump.rdb')], {
    logFile: log,
    timeoutMs: BGSAVE_TIMEOUT_MS,
    signal,
    what: `redis-cli --rdb from ${svc.id}`,
    env: { REDISCLI_AUTH: secrets.redisPassword },
  });
}

export async function redisSnapshot(pick: RedisPick | null, secrets: Secrets, destDir: string, fromDisk: boolean, log: string, signal?: AbortSignal): Promise<string> {
  if (!pick) return '';
  const svc = pick.svc;
  const client = new Redis({
    host: svc.address,
    port: svc.port,
    password: secrets.redisPassword,
    lazyConnect: true,
    // A frozen Redis accepts the connection and never answers: bound every command. 5 s is far
    // above a loopback round trip and below anything an operator would wait for.
    connectTimeout: 5000,
    commandTimeout: 5000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    disableClientInfo: true,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = async (): Promise<Record<string, string>> => {
      const text = await client.info('persistence');
      return Object.fromEntries(
        text
          .split('\r\n')
          .filter((l) => l.includes(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
      );
    };
    const before = await info();
    const savesBefore = Number(before['rdb_saves'] ?? 0);
    // SCHEDULE: if an AOF rewrite runs, the save starts after it instead of failing.
    await client.call('BGSAVE', 'SCHEDULE');
    const done = await waitFor(
      async () => {
        const i = await info();
        return Number(i['rdb_saves'] ?? 0) > savesBefore && i['rdb_bgsave_in_progress'] === '0' ? i : undefined;
      },
      // 200 ms: a small snapshot completes in tens of ms.
      { timeoutMs: BGSAVE_TIMEOUT_MS, intervalMs: 200 },
    );
    if (!done) throw new HastackError(ErrorCode.TIMEOUT, `BGSAVE on ${svc.id} did not complete within ${BGSAVE_TIMEOUT_MS / 1000} s; see its service.log`);
    if (done['rdb_last_bgsave_status'] !== 'ok') throw new HastackError(ErrorCode.SETUP_FAILED, `BGSAVE on ${svc.id} failed; see its service.log (a full disk is the usual cause)`);
    if (fromDisk) {
      const dir = (await client.call('CONFIG', 'GET', 'dir')) as string[];
      const name = (await client.call('CONFIG', 'GET', 'dbfilename')) as string[];
      const rdb = path.join(String(dir[1]), String(name[1]));
      fs.mkdirSync(destDir, { recursive: true });
      fs.copyFileSync(rdb, path.join(destDir, 'dump.rdb'));
    } else {
      await remoteRdb(svc, secrets, destDir, log, signal);
    }
    const server = await client.info('server');
    return /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown';
  } finally {
    client.disconnect();
  }
}
