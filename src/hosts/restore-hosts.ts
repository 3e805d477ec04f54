import type { z } from 'zod';
import { archiveNodeOf, hostStateDir, readSecrets, servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import type { BuildResult, Placement, RestoreMachines } from '../control/index.js';
import { planBackup, type StopAt } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { probeResultSchema } from './agent-types.js';
import { hostsAutoMode } from './auto-mode-hosts.js';
import {
  restoreArchivedSchema,
  restoreBuildSchema,
  restoreDoneSchema,
  restoreFlushSchema,
  restorePlanSchema,
  restoreReceivedSchema,
  type RestoreRequest,
} from './restore-agent.js';
import { withHost, type HostSession } from './session.js';
import { serviceUnitName } from './units.js';

/*
 * `restore --into-cluster` on real hosts, from the operator's machine (control/restore-cluster.ts
 * holds the steps; this is their machine-local half, `RestoreMachines`, through each host's agent
 * over the operator's SSH: restore-agent.ts is the other end). Where things are:
 * - the build runs on the archive's machine (`archiveNodeOf`: `backup.target`, else the first
 *   database node), where the binlog archive is and the backups land when `backup.target` is
 *   set; SSH targets are read from there too (their key lets database nodes in);
 * - every other database node's machine receives a copy of the built datadir, streamed through
 *   this machine (hosts hold no keys to one another): a replica on another machine cannot be
 *   provisioned from a mariabackup of the restored primary (mariabackup reads a local datadir);
 * - the units are stopped and started by each host's agent; a start is waited for through the
 *   agent's probe, since the operator's machine may not reach every service.
 */

// Building replays the base backup plus the archive: mariabackup's own bound (30 min).
const BUILD_TIMEOUT_MS = 30 * 60_000;
// A datadir of a few GB over a LAN; the copy resumes from the start when run again.
const COPY_TIMEOUT_MS = 60 * 60_000;
// The backup's own bound (mariabackup of a large datadir on a slow disk).
const BACKUP_TIMEOUT_MS = 30 * 60_000;
const AGENT_TIMEOUT_MS = 60_000;
// A replica catching up from its copy, or a Galera joiner's full state transfer of a large datadir.
const START_TIMEOUT_MS = 15 * 60_000;

function call<T>(topo: Topology, svc: ServiceInstance, req: RestoreRequest, schema: z.ZodType<T>, timeoutMs = AGENT_TIMEOUT_MS): Promise<T> {
  return withHost(topo, svc.node, (s) => s.agentJson('restore', ['--id', svc.id], schema, { input: JSON.stringify(req), timeoutMs }));
}

/** The `hastack backup -o json` line a host runs (what its backup unit runs, as a manual backup). */
function backupCommand(s: HostSession, topo: Topology): string {
  return s.cli(['backup', '-f', `${hostStateDir(topo.config)}/hastack.yaml`, '--state-root', topo.config.hosts.stateDir, '-o', 'json']);
}

export function hostsRestoreMachines(topo: Topology): RestoreMachines {
  const dbOf = (node: string): ServiceInstance => {
    const svc = servicesOf(topo, 'mariadb').find((s) => s.node === node);
    if (!svc)
      throw new HastackError(
        ErrorCode.CONFIG_INVALID,
        `node ${node} has no mariadb: on hosts the restore builds on the archive's node (backup.target, else the first database node)`,
      );
    return svc;
  };
  const archive = (): ServiceInstance => dbOf(archiveNodeOf(topo));
  return {
    async preflight() {
      if (!topo.config.backup.binlogArchive)
        throw new HastackError(
          ErrorCode.USAGE,
          'restore --into-cluster on hosts builds from the binlog archive: set backup.binlogArchive: true and run "hastack deploy". Without it, "hastack restore --verify --keep BACKUP" on the backup\'s machine starts a scratch server on a backup to copy rows from',
        );
      archive();
    },
    buildNode: () => archiveNodeOf(topo),
    async autoMode(set) {
      const r = await hostsAutoMode(topo, set ? { state: set.state, ...(set.why !== undefined ? { why: set.why } : {}) } : undefined);
      if (!r.mode) throw new HastackError(ErrorCode.HOST_UNREACHABLE, `no controller host answered for the automatic failover's mode: ${r.unreachable.join('; ')}`);
      return r.mode.state;
    },
    async backup() {
      // mariabackup reads the source's datadir: the backup runs on the source's machine, as its timer's does.
      const plan = await planBackup(topo, readSecrets(topo.stateDir));
      const out = await withHost(topo, plan.source.svc.node, (s) => s.ssh.run(backupCommand(s, topo), { timeoutMs: BACKUP_TIMEOUT_MS }));
      const doc = JSON.parse(out) as { id?: unknown; facts?: { gtid?: unknown } };
      if (typeof doc.id !== 'string') throw new HastackError(ErrorCode.HOST_COMMAND_FAILED, `the backup on ${plan.source.svc.node} printed no backup id: ${out.slice(0, 300)}`);
      return { id: doc.id, gtid: typeof doc.facts?.gtid === 'string' ? doc.facts.gtid : '' };
    },
    plan: (stop: StopAt) => call(topo, archive(), { op: 'plan', stop }, restorePlanSchema),
    lastArchived: async () => (await call(topo, archive(), { op: 'archived' }, restoreArchivedSchema)).last ?? undefined,
    async build(svc, id, stop, onLine): Promise<BuildResult> {
      const r = await call(topo, svc, { op: 'build', restore: id, stop }, restoreBuildSchema, BUILD_TIMEOUT_MS);
      for (const l of r.lines) onLine(l);
      return { gtidState: r.gtidState, message: r.message };
    },
    needsCopy: (from, to) => from.node !== to.node,
    async copyBuilt(from, to, id) {
      return withHost(topo, from.node, (src) =>
        withHost(topo, to.node, async (dst) => {
          const out = await src.ssh.pipeTo(
            src.agentCommand('restore', ['--id', from.id, '--send', id]),
            dst.ssh,
            dst.agentCommand('restore', ['--id', to.id, '--receive', id]),
            COPY_TIMEOUT_MS,
          );
          return restoreReceivedSchema.parse(JSON.parse(out)).bytes;
        }),
      );
    },
    async stopDb(svcs) {
      for (const svc of svcs) await withHost(topo, svc.node, (s) => s.agent('stop', [serviceUnitName(topo, svc)], { timeoutMs: 5 * 60_000 }));
    },
    async startDb(svc) {
      await withHost(topo, svc.node, async (s) => {
        // The start returns once the unit's prepare ran and the server started; healthy is the probe's word.
        await s.agent('start', [serviceUnitName(topo, svc)], { timeoutMs: START_TIMEOUT_MS });
        const healthy = await waitFor(
          async () =>
            (await s.agentJson('probe', ['--id', svc.id, '--timeout-ms', '1000'], probeResultSchema, { timeoutMs: AGENT_TIMEOUT_MS }).catch(() => undefined))?.healthy
              ? true
              : undefined,
          { timeoutMs: START_TIMEOUT_MS, intervalMs: 1_000 },
        );
        if (!healthy)
          throw new HastackError(
            ErrorCode.TIMEOUT,
            `${svc.id} did not become healthy within ${START_TIMEOUT_MS / 60_000} min; read "hastack logs ${svc.node} mariadb", then run the restore again`,
          );
        // What the supervisor does after a healthy start, and deploy after each unit: a replica
        // seeded at T is pointed at the primary here (gtid_slave_pos, CHANGE MASTER, semi-sync).
        await s.agent('wire', ['--id', svc.id], { timeoutMs: 5 * 60_000 });
      });
    },
    async place(svc, id, p: Placement) {
      await call(
        topo,
        svc,
        {
          op: 'place',
          restore: id,
          built: p.built,
          ...(p.state ? { state: p.state } : {}),
          ...(p.bootstrap !== undefined ? { bootstrap: p.bootstrap } : {}),
          restoredTo: p.restore.restoredTo,
          at: p.restore.at,
          ...(p.restore.preRestoreBackup ? { preRestoreBackup: p.restore.preRestoreBackup } : {}),
        },
        restoreDoneSchema,
        5 * 60_000,
      );
    },
    async flushCaches() {
      let flushed = 0;
      const failed: string[] = [];
      for (const svc of servicesOf(topo, 'memcached')) {
        try {
          const r = await call(topo, svc, { op: 'flush' }, restoreFlushSchema);
          flushed += r.flushed;
          failed.push(...r.failed);
        } catch (e) {
          failed.push(`${svc.id}: ${describeError(e)}`);
        }
      }
      return { flushed, failed };
    },
    async clean(svc, id) {
      await call(topo, svc, { op: 'clean', restore: id }, restoreDoneSchema, 5 * 60_000);
    },
  };
}
