import {
  ENGINE_SECRETS,
  generateSecret,
  readSecretsFile,
  requireAllSecrets,
  secretsFile,
  servicesOf,
  writeSecrets,
  type SecretName,
  type Secrets,
  type ServiceInstance,
  type Topology,
} from '../config/index.js';
import { pick, readRotationJournal, runRotationSteps, type EngineSecret, type RotateResult, type RotationJournal } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { agentStatusSchema, probeResultSchema } from './agent-types.js';
import { planHostRotation, type HostStep, type HostStepAction } from './rotate-plan.js';
import { secretsAnswerSchema, type SecretsAnswer, type SecretsRequest } from './rotate-agent.js';
import type { HostSession } from './session.js';

/**
 * `hastack secrets rotate` on `substrate: hosts`, from the operator's machine: the steps of
 * rotate-plan.ts, each run through the agent of the host concerned over the deploy path's SSH
 * sessions (the operator's own key: the controller's key may run only status, node-down and
 * record-role). Journaled on the operator's side exactly like the one-machine rotation
 * (`<stateDir>/secrets-rotation.json`, 0600, holding the old and new values until the end): a
 * re-run resumes with the same new passwords, whether the run was cut before or after any host
 * got its new secrets.json. Every step goes to the operator's event log; no password does.
 */

export interface HostRotateOptions {
  readonly topo: Topology;
  readonly sessions: ReadonlyMap<string, HostSession>;
  /** Default: every engine password. */
  readonly names?: readonly string[];
  readonly dryRun?: boolean;
  readonly print: (line: string) => void;
  /** What each node's secrets.json holds given the operator's full secrets (what `deploy` sends). */
  readonly payloads: (secrets: Secrets) => ReadonlyMap<string, Partial<Secrets>>;
}

/** Starting node and running one engine command on the host: a second or two; a minute is a stuck host. */
const AGENT_TIMEOUT_MS = 60_000;
/** Restarted units are polled this often (one status or probe over the shared SSH connection). */
const POLL_MS = 500;
/**
 * On top of supervisor.healthTimeoutMs for a restarted unit: the load balancers take an app
 * server back after `lb.rise` good checks (two 1-s checks by default); 30 s allows a busy host.
 */
const LB_RISE_SLACK_MS = 30_000;

function startOrResume(topo: Topology, current: Secrets, names: readonly string[] | undefined): { journal: RotationJournal; resumed: boolean } {
  const j = readRotationJournal(topo.stateDir);
  if (j) {
    const asked = names && names.length > 0 ? pick(names) : j.names;
    if (asked.join() !== j.names.join()) {
      throw new HastackError(
        ErrorCode.BAD_REQUEST,
        `an unfinished rotation of ${j.names.join(', ')} (started ${j.startedAt}) must end first: run "secrets rotate" without names to resume it`,
      );
    }
    return { journal: j, resumed: true };
  }
  const picked = pick(names);
  return {
    journal: {
      startedAt: new Date().toISOString(),
      names: picked,
      old: Object.fromEntries(picked.map((k) => [k, current[k]])),
      next: Object.fromEntries(picked.map((k) => [k, generateSecret()])),
      done: [],
    },
    resumed: false,
  };
}

class HostRotation {
  constructor(
    private readonly o: HostRotateOptions,
    private readonly j: RotationJournal,
    private readonly current: Secrets,
  ) {}

  newOf(k: EngineSecret): string {
    return this.j.next[k] ?? this.current[k];
  }

  oldOf(k: EngineSecret): string {
    return this.j.old[k] ?? this.current[k];
  }

  /** The passwords that may be in force, the new one first (after an interruption either may be). */
  both(k: EngineSecret): string[] {
    return [...new Set([this.newOf(k), this.oldOf(k)])];
  }

  /** The operator's full secrets with the rotated ones new. */
  merged(): Secrets {
    const out = { ...this.current } as Record<SecretName, string>;
    for (const k of this.j.names) out[k] = this.newOf(k);
    return out as Secrets;
  }

  session(node: string): HostSession {
    const s = this.o.sessions.get(node);
    if (!s) throw new HastackError(ErrorCode.INTERNAL, `no SSH session for node ${node}`);
    return s;
  }

  /** One `_agent secrets` call; the request (passwords included) travels on stdin only. */
  ask(node: string, req: SecretsRequest): Promise<SecretsAnswer> {
    return this.session(node).agentJson('secrets', [], secretsAnswerSchema, {
      input: JSON.stringify(req),
      timeoutMs: AGENT_TIMEOUT_MS + this.o.topo.config.database.semiSyncTimeoutMs,
    });
  }

  /** The node that takes writes now: the replication primary (read_only off), any Galera node. */
  async dbPrimary(): Promise<ServiceInstance> {
    const dbs = servicesOf(this.o.topo, 'mariadb');
    const roots = this.both('dbRootPassword');
    const writable: ServiceInstance[] = [];
    for (const svc of dbs) if ((await this.ask(svc.node, { op: 'db-writable', id: svc.id, roots })).yes === true) writable.push(svc);
    if (this.o.topo.config.database.mode === 'galera' && writable[0]) return writable[0];
    if (writable.length !== 1 || !writable[0]) {
      throw new HastackError(
        ErrorCode.DB_UNAVAILABLE,
        `found ${writable.length} writable database node(s) (${writable.map((s) => s.node).join(', ') || 'none'}); rotate needs exactly one primary: fix replication first`,
      );
    }
    return writable[0];
  }

  async unitPid(node: string, unit: string): Promise<number | undefined> {
    const st = await this.session(node).agentJson('status', ['--node', node], agentStatusSchema, { timeoutMs: AGENT_TIMEOUT_MS });
    const u = st.units.find((x) => x.name === unit);
    return u?.active === true ? u.pid : undefined;
  }

  async routedByEveryLb(backend: string): Promise<boolean> {
    for (const lb of servicesOf(this.o.topo, 'lb')) {
      if ((await this.ask(lb.node, { op: 'lb-routes', id: lb.id, backend })).yes !== true) return false;
    }
    return true;
  }

  /**
   * Restart through the agent, then wait (bounded) until the unit runs under a new pid, its
   * service probes healthy, and an app server is routed to by every load balancer again:
   * restarting the next one sooner could leave the load balancers without an app server.
   */
  async restart(node: string, unit: string, svc: ServiceInstance | undefined): Promise<void> {
    const s = this.session(node);
    const before = await this.unitPid(node, unit);
    await s.agent('restart', [unit], { timeoutMs: AGENT_TIMEOUT_MS });
    const limitMs = this.o.topo.config.supervisor.healthTimeoutMs + LB_RISE_SLACK_MS;
    const deadline = Date.now() + limitMs;
    let last = 'not running again yet';
    for (;;) {
      try {
        const pid = await this.unitPid(node, unit);
        if (pid !== undefined && pid !== before) {
          if (svc === undefined) return;
          const p = await s.agentJson('probe', ['--id', svc.id, '--timeout-ms', '1000'], probeResultSchema, { timeoutMs: AGENT_TIMEOUT_MS });
          last = p.healthy ? 'healthy, not yet routed to by every load balancer' : `unhealthy (${p.detail ?? p.role})`;
          if (p.healthy && (svc.kind !== 'app' || (await this.routedByEveryLb(svc.id)))) return;
        }
      } catch (e) {
        last = describeError(e);
      }
      if (Date.now() > deadline) {
        throw new HastackError(
          ErrorCode.HEALTH_TIMEOUT,
          `${unit} on ${node} is not back ${limitMs / 1000} s after its restart (${last}); see "hastack logs", then run the rotation again`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async run(a: HostStepAction): Promise<void> {
    const roots = this.both('dbRootPassword');
    switch (a.do) {
      case 'pair':
        await this.ask(a.svc.node, { op: a.op, id: a.svc.id, next: this.newOf(a.secret), old: this.oldOf(a.secret) });
        return;
      case 'sentinel-auth-pass':
        await this.ask(a.svc.node, { op: 'sentinel-auth-pass', id: a.svc.id, sentinelPasswords: this.both('sentinelPassword'), redisPassword: this.newOf('redisPassword') });
        return;
      case 'db-account': {
        const primary = await this.dbPrimary();
        const passwords = a.final ? [this.newOf(a.secret)] : this.both(a.secret);
        await this.ask(primary.node, { op: 'db-account', id: primary.id, roots, user: a.user, passwords });
        return;
      }
      case 'db-root-local':
        await this.ask(a.svc.node, { op: 'db-root-local', id: a.svc.id, roots, passwords: a.final ? [this.newOf('dbRootPassword')] : this.both('dbRootPassword') });
        return;
      case 'db-repl':
        await this.ask(a.svc.node, { op: 'db-repl-password', id: a.svc.id, roots, password: this.newOf('dbReplPassword') });
        return;
      case 'save':
        writeSecrets(this.o.topo.stateDir, this.merged());
        return;
      case 'push': {
        const payload = this.o.payloads(this.merged()).get(a.node);
        if (payload === undefined) throw new HastackError(ErrorCode.INTERNAL, `no secrets payload for node ${a.node}`);
        await this.ask(a.node, { op: 'write-secrets', secrets: payload });
        return;
      }
      case 'restart':
        await this.restart(a.node, a.unit, a.svc);
        return;
    }
  }
}

/** `secrets rotate [--dry-run] [NAME...]` on a `substrate: hosts` cluster. */
export async function rotateOnHosts(o: HostRotateOptions): Promise<RotateResult> {
  const { topo } = o;
  const file = secretsFile(topo.stateDir);
  const current = requireAllSecrets(readSecretsFile(file) ?? {}, file);
  const { journal, resumed } = startOrResume(topo, current, o.names);
  const rotation = new HostRotation(o, journal, current);
  const held = new Map([...o.payloads(rotation.merged())].map(([node, s]) => [node, ENGINE_SECRETS.filter((k) => s[k] !== undefined)]));
  const steps: HostStep[] = planHostRotation(topo, journal.names, held);
  return runRotationSteps(
    topo,
    journal,
    steps.map((s) => ({ id: s.id, what: s.what, run: () => rotation.run(s.action) })),
    { ...o, resumed, where: ` on ${o.sessions.size} host(s)`, done: 'rotated on every host; the old passwords no longer work' },
  );
}
