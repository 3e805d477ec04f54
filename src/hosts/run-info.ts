import type { ServiceInstance, Topology } from '../config/index.js';
import { describeError } from '../shared/errors.js';
import type { ProbeResult } from '../registry/index.js';
import { newestMode } from './auto-mode-hosts.js';
import { agentStatusSchema, type HostAutoMode, guardedProbesSchema, probeResultSchema } from './agent-types.js';
import { guardedPorts } from './firewall.js';
import { closeSessions, openSessions, withHost } from './session.js';

/** What each host's service manager says about one service's unit. */
export interface UnitRunInfo {
  readonly pid: number | null;
  readonly restarts: number;
  readonly active: boolean;
}

/**
 * A status call answers in a couple of seconds on an idle host, but each starts the CLI there (two
 * at once, with the probes): on a loaded 2-core host that took over 5 s, and the host's rows came
 * back empty. 15 s, or the host counts as unreachable.
 */
const STATUS_TIMEOUT_MS = 15_000;

/**
 * `hastack status` on real hosts: every host's agent reports its units (pid, restarts) over SSH,
 * in parallel. A host that does not answer gives no rows; the probes still say what serves.
 */
export async function hostsRunInfo(topo: Topology): Promise<{
  units: Map<string, UnitRunInfo>;
  probes: Map<string, ProbeResult>;
  unreachable: string[];
  autoMode: HostAutoMode | undefined;
  archive: { line: string; warning: boolean } | undefined;
}> {
  const sessions = openSessions(topo);
  const units = new Map<string, UnitRunInfo>();
  // Services behind the cluster's firewall (firewall.ts) answer only cluster nodes, and the
  // operator's machine may not be one: their host's agent probes them.
  const probes = new Map<string, ProbeResult>();
  const unreachable: string[] = [];
  const modes: HostAutoMode[] = [];
  let archive: { line: string; warning: boolean } | undefined;
  try {
    await Promise.all(
      [...sessions.values()].flatMap((s) => {
        const unitsOf = async (): Promise<void> => {
          try {
            const st = await s.agentJson('status', ['--node', s.node], agentStatusSchema, { timeoutMs: STATUS_TIMEOUT_MS });
            if (st.autoMode) modes.push(st.autoMode);
            archive ??= st.archive;
            for (const u of st.units) {
              if (u.serviceId !== undefined) units.set(u.serviceId, { pid: u.pid ?? null, restarts: u.restarts ?? 0, active: u.active });
            }
          } catch (e) {
            unreachable.push(`${s.node}: ${describeError(e)}`);
          }
        };
        // One agent call probes all of the host's guarded services (memcached, Redis, Sentinel,
        // Galera's MariaDB) in parallel, beside the status call (each starts the CLI on the host):
        // a slow status does not leave them to a probe from here, which the firewall refuses.
        const guarded = [...new Set(guardedPorts(topo, s.node).map((g) => g.serviceId))];
        const probesOf = async (): Promise<void> => {
          if (guarded.length === 0) return;
          try {
            const r = await s.agentJson('probes', ['--node', s.node, '--timeout-ms', '1000'], guardedProbesSchema, { timeoutMs: STATUS_TIMEOUT_MS });
            for (const id of guarded) probes.set(id, r.probes[id] ?? { healthy: false, role: id.split('/')[1] ?? 'service', detail: `the agent of ${s.node} did not probe it` });
          } catch (e) {
            for (const id of guarded) probes.set(id, { healthy: false, role: id.split('/')[1] ?? 'service', detail: `probe through the agent of ${s.node}: ${describeError(e)}` });
          }
        };
        return [unitsOf(), probesOf()];
      }),
    );
  } finally {
    await closeSessions(sessions);
  }
  return { units, probes, unreachable, autoMode: newestMode(modes), archive };
}

/** One agent call bounds a probe of 1 s; the rest is starting the CLI there (see STATUS_TIMEOUT_MS). */
const PROBE_TIMEOUT_MS = 15_000;

/**
 * One service's probe, run by its host's agent: for services whose probe reads their own
 * machine (the local endpoints' status socket) or whose port answers only cluster nodes.
 */
export async function probeOnHost(topo: Topology, svc: ServiceInstance): Promise<ProbeResult> {
  try {
    return await withHost(topo, svc.node, (s) => s.agentJson('probe', ['--id', svc.id, '--timeout-ms', '1000'], probeResultSchema, { timeoutMs: PROBE_TIMEOUT_MS }));
  } catch (e) {
    return { healthy: false, role: svc.kind, detail: `probe through the agent of ${svc.node}: ${describeError(e)}` };
  }
}
