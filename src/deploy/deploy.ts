import fs from 'node:fs';
import path from 'node:path';
import {
  type Config,
  type Secrets,
  type ServiceInstance,
  type Topology,
  controllerNode,
  controllerNodes,
  hostStateDir,
  lbTlsLocal,
  installedPackage,
  remoteTopology,
  renderConfigYaml,
  resolveTopology,
  substrateTraits,
  isCommandApp,
  writeSecrets,
  writeTopology,
} from '../config/index.js';
import { adminTokenFile, loadOrCreateAdminToken } from '../control/index.js';
import { startPlan } from '../registry/index.js';
import { databaseTlsOn, ensureClusterTls, ensureEdgeCertificate, readNodeTls, waitSentinelsReady } from '../engines/index.js';
import { checkCertificateFiles } from '../lb/index.js';
import {
  agentPlanSchema,
  probeResultSchema,
  type AgentPlan,
  shq,
  installBackupKey,
  installControllerKey,
  authorizeSshTargets,
  sentinelsReadyOnHosts,
  closeSessions,
  galeraOnHosts,
  openSessions,
  type HostSession,
} from '../hosts/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent, type ClusterEvent } from '../shared/events.js';
import { sleep } from '../shared/retry.js';
import { BUNDLE_STAMP_FILE, buildBundle, type Bundle } from './bundle.js';
import { appDirDigest, shipAppDir } from './app-dir.js';
import { hostSecretPayloads, secretsForDeploy } from './host-secrets.js';
import { hostNeeds, type HostNeeds } from './needs.js';
import { judgeHost, missingPackages, parseFacts, preflightScript, type HostFacts, type Verdict } from './preflight.js';
import { describeHostPlan, type HostReport } from './report.js';

export interface DeployOptions {
  readonly config: Config;
  readonly configDir: string;
  readonly stateRoot: string;
  /** Print the plan; change nothing anywhere. */
  readonly dryRun?: boolean;
  /** Like dryRun, and show each changed file's differences. */
  readonly diff?: boolean;
  readonly print: (line: string) => void;
  /** How the operator calls hastack, for the advice in messages. */
  readonly cli?: string;
}

export interface DeployResult {
  readonly topo: Topology;
  /** Services (re)started by this run; none on a run that found everything in place. */
  readonly started: readonly string[];
  readonly unchanged: readonly string[];
  /** What deploy found and meant to do on each host (what a dry run prints). */
  readonly hosts: readonly HostReport[];
}

/** Lines of the migrations' output kept in their event (as the supervisor keeps). */
const MIGRATE_EVENT_LINES = 40;

/** Health wait per service is the config's `supervisor.healthTimeoutMs`; probes this often. */
const PROBE_EVERY_MS = 500;
/** apt-get of an engine package or two; a slow mirror takes minutes. */
const APT_TIMEOUT_MS = 15 * 60_000;
/** Unpacking the bundle (tens of MB) on a host. */
const INSTALL_TIMEOUT_MS = 5 * 60_000;
/** One agent call that only reads or writes a few files. */
const AGENT_TIMEOUT_MS = 60_000;
/** `_migrate` of the app: bounded like the supervisor's. */
const MIGRATE_TIMEOUT_MS = 120_000;

interface HostState {
  readonly session: HostSession;
  readonly needs: HostNeeds;
  facts?: HostFacts;
  verdicts: Verdict[];
  /** The agent's plan: absent when hastack is not installed there yet (or is another version). */
  plan?: AgentPlan;
  missing: string[];
  reinstall: boolean;
}

/**
 * `hastack deploy`: from one hastack.yaml to a running, supervised cluster on real machines over
 * SSH. Looks at every host first and refuses to touch any if one cannot take it; then, host by
 * host, installs missing engine packages and hastack itself, writes the cluster's files and one
 * unit per service, and starts what changed or is not running in the cluster's start order,
 * waiting for each to be healthy. Every step is idempotent: a re-run converges, and a run that
 * finds everything in place changes nothing.
 */
export async function deploy(o: DeployOptions): Promise<DeployResult> {
  const t0 = Date.now();
  if (!substrateTraits(o.config).nodesAreMachines) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `deploy puts a cluster on machines over SSH and needs "substrate: hosts" (this file says "${o.config.substrate}"); on this machine use "hastack up"`,
    );
  }
  const resolved = resolveTopology(o.config, { stateRoot: o.stateRoot, configDir: o.configDir });
  // A command app's files take part in its units' inputs: new files restart it at this deploy.
  const appDir = path.resolve(o.configDir, o.config.app.dir ?? '.');
  const topo = isCommandApp(o.config) ? { ...resolved, appDigest: await appDirDigest(appDir, o.stateRoot) } : resolved;
  const looking = o.dryRun === true || o.diff === true;
  const event = (message: string, data?: Record<string, unknown>): void => {
    if (looking) {
      o.print(message);
      return;
    }
    const e: ClusterEvent = appendEvent(topo.stateDir, { type: 'step', message: `deploy: ${message}`, ...(data ? { data } : {}) });
    o.print(`[${((Date.parse(e.ts) - t0) / 1000).toFixed(1).padStart(5)}s] ${message}`);
  };
  const bundle = await buildBundle(path.join(topo.stateDir, 'bundle'));
  // The cluster's CA stays here; each database host gets the CA certificate and its own key pair.
  ensureClusterTls(topo);
  // lb.tls: the cluster CA's edge certificate when asked for (local: true), and every certificate
  // file checked and read here, to ship to the load-balancer hosts (0600, their service user's).
  if (lbTlsLocal(topo.config)) ensureEdgeCertificate(topo);
  const lbCerts = checkCertificateFiles(topo).map((c) => ({ cert: c.pem.cert, key: c.pem.key }));
  // lb.tls.acme.caFile (a private ACME server's CA) is read here and shipped beside them.
  const acmeCa = readAcmeCaFile(topo.config.lb.tls?.acme?.caFile);
  const lbNodes = new Set(topo.services.filter((s) => s.kind === 'lb').map((s) => s.node));
  const tlsNodes = new Set(databaseTlsOn(topo) ? topo.services.filter((s) => s.kind === 'mariadb').map((s) => s.node) : []);
  const remote = remoteTopology(topo);
  const configYaml = renderConfigYaml(o.config);
  const sessions = openSessions(topo);
  try {
    event(`looking at ${sessions.size} host(s): ${[...sessions.values()].map((s) => `${s.node} (${s.label})`).join(', ')}`);
    // Before anything is sent: the hosts must hold the operator's passwords, or none yet.
    const { secrets, write } = await secretsForDeploy(topo, sessions, o.cli ?? 'hastack');
    const needs = new Map(topo.nodes.map((n) => [n.name, hostNeeds(topo, n)]));
    // Each host gets only the secrets its nodes' services need (nodes sharing one machine share
    // its secrets.json, so such a host gets the union of theirs), as `secrets rotate` pushes them.
    const held = hostSecretPayloads(topo, sessions, secrets);
    const payloads = new Map(
      topo.nodes.map((n) => {
        const payload = {
          topology: remote,
          secrets: must(held.get(n.name)),
          configYaml,
          ...(tlsNodes.has(n.name) ? { tls: readNodeTls(topo, n.name) } : {}),
          ...(lbNodes.has(n.name) && (lbCerts.length > 0 || acmeCa !== undefined) ? { lbTls: { certificates: lbCerts, ...(acmeCa !== undefined ? { acmeCa } : {}) } } : {}),
        };
        return [n.name, JSON.stringify(payload)];
      }),
    );
    const hosts = await Promise.all(topo.nodes.map((n) => inspectHost(topo, must(sessions.get(n.name)), must(needs.get(n.name)), bundle, must(payloads.get(n.name)))));
    const reports = hosts.map((h) => report(h, bundle));
    for (const r of reports) for (const line of describeHostPlan(r, o.diff === true)) o.print(line);
    const errors = hosts.flatMap((h) => h.verdicts.filter((v) => v.level === 'error'));
    if (errors.length > 0) {
      throw new HastackError(ErrorCode.SETUP_FAILED, `deploy changed nothing: ${errors.length} problem(s) to fix first:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`, {
        // What each host is and what it lacks (not the files' diffs): what the refusal rests on.
        details: { hosts: reports.map((r) => ({ node: r.node, target: r.target, facts: r.facts ?? null, verdicts: r.verdicts, missingPackages: r.missingPackages })) },
      });
    }
    if (looking) {
      await authorizeSshTargets(topo, { dryRun: true, say: (m) => o.print(m) });
      o.print(`${o.diff ? 'diff' : 'dry run'}: nothing was changed on any host`);
      return { topo, started: [], unchanged: [], hosts: reports };
    }
    if (write !== undefined) {
      writeSecrets(topo.stateDir, secrets);
      event(
        write === 'new'
          ? `made this cluster's passwords in ${topo.stateDir}/secrets.json (0600; no host held any)`
          : `added the secrets this version introduced to ${topo.stateDir}/secrets.json`,
      );
    }
    writeTopology(topo);
    // Hosts are independent until services start: packages, bundle and files go in side by side.
    await Promise.all(hosts.map((h) => prepareHost(h, bundle, must(payloads.get(h.session.node)), event)));
    // A command app's files, after apply (it creates the service accounts the files are given to).
    await Promise.all(hosts.map((h) => shipAppDir(h.session, appDir, o.stateRoot, event)));
    // The admin API's token (review item 5): the operator's copy and the controller host's only.
    const ctlNode = controllerNode(o.config, topo.nodes).name;
    await must(sessions.get(ctlNode)).ssh.writeFile(adminTokenFile(hostStateDir(o.config)), `${loadOrCreateAdminToken(topo.stateDir)}\n`, 0o600);
    if (o.config.failover.auto) {
      const controllers = controllerNodes(o.config, topo.nodes).map((n) => n.name);
      const added = await installControllerKey(topo, sessions, controllers);
      event(
        `failover.auto: the controller${controllers.length > 1 ? 's' : ''} on ${controllers.join(', ')} fence${controllers.length > 1 ? '' : 's'} with ${controllers.length > 1 ? 'their' : 'its'} own SSH key${added.length > 0 ? `, now authorised on ${added.join(', ')}` : ''}`,
      );
    }
    if (topo.config.database.mode === 'galera') await galeraBeforeStart(topo, sessions, hosts, event);
    // Backups follow the roles: whichever database node holds the source copies to the target over SSH.
    const authorised = await installBackupKey(topo, sessions);
    if (authorised.length > 0) event(`backups: the database nodes copy to the backup target with their own SSH key, now authorised (receive only) on ${authorised.join(', ')}`);
    // SSH targets (plain machines): the same key through hastack's gate there, over the operator's SSH; one out of reach is a warning, not a failure.
    await authorizeSshTargets(topo, { dryRun: false, say: event });
    const { started, unchanged } = await startServices(topo, secrets, hosts, event);
    await startOtherUnits(hosts, event);
    const changedNothing = started.length === 0 && hosts.every((h) => !h.reinstall && h.missing.length === 0 && (h.plan?.files.every((f) => f.status === 'same') ?? false));
    event(
      changedNothing
        ? `done in ${((Date.now() - t0) / 1000).toFixed(1)} s: nothing to change (${unchanged.length} services already running as configured)`
        : `done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${started.length} service(s) started, ${unchanged.length} unchanged`,
      { started, unchanged },
    );
    return { topo, started, unchanged, hosts: reports };
  } finally {
    await closeSessions(sessions);
  }
}

/** `lb.tls.acme.caFile` (already absolute), checked as the load balancer will: a ConfigError naming the key. */
function readAcmeCaFile(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `lb.tls.acme.caFile: cannot read ${file}: ${(e as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new HastackError(ErrorCode.CONFIG_INVALID, `lb.tls.acme.caFile: ${file} is not a PEM certificate`);
  return pem;
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new HastackError(ErrorCode.INTERNAL, 'missing host session');
  return v;
}

function report(h: HostState, bundle: Bundle): HostReport {
  return {
    node: h.session.node,
    target: h.session.label,
    ...(h.facts ? { facts: { os: h.facts.os, nodeVersion: h.facts.nodeVersion, systemd: h.facts.systemd, pid1: h.facts.pid1, installed: h.facts.bundleStamp } } : {}),
    verdicts: h.verdicts,
    missingPackages: h.missing,
    installBundle: h.reinstall ? bundle.stamp : undefined,
    plan: h.plan,
    services: h.needs.listens.map((l) => l.id),
  };
}

/** Preflight of one host, then the agent's plan if this bundle is installed there. Reads only. */
async function inspectHost(topo: Topology, session: HostSession, needs: HostNeeds, bundle: Bundle, payload: string): Promise<HostState> {
  const h: HostState = { session, needs, verdicts: [], missing: [], reinstall: true };
  const sentAtMs = Date.now();
  let text: string;
  try {
    text = await session.ssh.run('sh -s', { input: preflightScript(needs, installedPackage(topo.config), BUNDLE_STAMP_FILE), timeoutMs: AGENT_TIMEOUT_MS });
  } catch (e) {
    h.verdicts.push({ level: 'error', message: describeError(e) });
    return h;
  }
  const receivedAtMs = Date.now();
  const facts = parseFacts(text);
  h.facts = facts;
  if (facts.nodeBin !== '') session.nodeBin = facts.nodeBin;
  h.missing = missingPackages(needs, facts);
  h.reinstall = facts.bundleStamp !== bundle.stamp;
  if (!h.reinstall) {
    try {
      h.plan = await session.agentJson('plan', ['--node', session.node], agentPlanSchema, { input: payload, timeoutMs: AGENT_TIMEOUT_MS });
    } catch (e) {
      h.verdicts.push({ level: 'warn', message: `host ${session.node}: the installed hastack could not plan (${describeError(e)}); it will be reinstalled` });
      h.reinstall = true;
    }
  }
  const ownPorts = new Set<number>();
  for (const u of h.plan?.units ?? []) {
    if (!u.active || u.serviceId === undefined) continue;
    const svc = topo.services.find((s) => s.id === u.serviceId);
    if (svc) ownPorts.add(svc.port);
  }
  h.verdicts.push(...judgeHost({ needs, facts, target: session.label, sentAtMs, receivedAtMs, maxClockSkewMs: topo.config.hosts.maxClockSkewMs, ownPorts }));
  return h;
}

/** Packages, the bundle, then the cluster's files and units: everything but starting. */
async function prepareHost(h: HostState, bundle: Bundle, payload: string, event: (m: string, d?: Record<string, unknown>) => void): Promise<void> {
  const s = h.session;
  if (h.missing.length > 0) {
    event(`${s.node}: installing ${h.missing.join(' ')} with apt-get`);
    await s.ssh.run(`DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${h.missing.map(shq).join(' ')}`, { timeoutMs: APT_TIMEOUT_MS });
  }
  if (h.reinstall) await installBundle(s, bundle, event);
  // `apply` reports what it changed (and what runs): with a fresh install, the first plan we have.
  const applied = await s.agentJson('apply', ['--node', s.node], agentPlanSchema, { input: payload, timeoutMs: AGENT_TIMEOUT_MS });
  const changedFiles = applied.files.filter((f) => f.status !== 'same');
  if (changedFiles.length > 0) event(`${s.node}: wrote ${changedFiles.map((f) => f.path).join(', ')}`);
  h.plan = applied;
}

/**
 * Unpacks the bundle into `<installDir>/releases/<stamp>/` and switches the `current` symlink to
 * it (one rename: a process never sees half a release, and running ones keep their files). The
 * stamp file goes in before the switch, so an interrupted install is simply done again. Keeps the
 * release it replaced (a way back) and removes older ones.
 */
async function installBundle(s: HostSession, bundle: Bundle, event: (m: string) => void): Promise<void> {
  const dir = s.topo.config.hosts.installDir;
  const current = installedPackage(s.topo.config);
  const release = `${dir}/releases/${bundle.stamp}`;
  event(`${s.node}: installing hastack ${bundle.stamp} (${(bundle.bytes / 1e6).toFixed(1)} MB) in ${release}`);
  await s.ssh.run(`rm -rf ${shq(`${release}.tmp`)}`);
  await s.ssh.uploadTar(() => fs.createReadStream(bundle.tarball), `${release}.tmp`, { timeoutMs: INSTALL_TIMEOUT_MS });
  await s.ssh.writeFile(`${release}.tmp/${BUNDLE_STAMP_FILE}`, `${bundle.stamp}\n`);
  await s.ssh.writeFile(`${dir}/bin/hastack`, `#!/bin/sh\nexec ${shq(s.nodeBin ?? 'node')} ${shq(`${current}/dist/src/cli/main.js`)} "$@"\n`, 0o755);
  const q = { dir: shq(dir), release: shq(release), current: shq(current), stamp: shq(bundle.stamp) };
  await s.ssh.run(
    [
      `prev=$(basename "$(readlink ${q.current} 2>/dev/null || true)")`,
      `rm -rf ${q.release} && mv ${shq(`${release}.tmp`)} ${q.release}`,
      `ln -sfn ${shq(`releases/${bundle.stamp}`)} ${shq(`${current}.tmp`)} && mv -T ${shq(`${current}.tmp`)} ${q.current}`,
      `for d in ${q.dir}/releases/*; do b=$(basename "$d"); [ "$b" = ${q.stamp} ] || [ "$b" = "$prev" ] || rm -rf "$d"; done`,
    ].join(' && '),
    { timeoutMs: INSTALL_TIMEOUT_MS },
  );
}

/**
 * Galera before the start plan (src/hosts/galera-hosts.ts): with a Primary component running,
 * nothing (the start plan's joiners join it). Otherwise every database unit was stopped and the
 * bootstrap decided: a brand-new cluster's first node is marked and the start plan starts it
 * first; after a full-cluster crash or a reboot of every host, the most advanced node was started
 * and is Primary, and the start plan starts the others, which join it. The plans' unit states
 * are updated to match, so the start plan neither skips a stopped unit nor restarts the new Primary.
 */
async function galeraBeforeStart(
  topo: Topology,
  sessions: ReadonlyMap<string, HostSession>,
  hosts: HostState[],
  event: (m: string, d?: Record<string, unknown>) => void,
): Promise<void> {
  const out = await galeraOnHosts(topo, sessions, { dryRun: false, joinAll: false, step: event });
  if (out.result !== 'fresh' && out.result !== 'recovered') return;
  const running = out.result === 'recovered' ? `${out.plan.bootstrap}/mariadb` : undefined;
  const dbIds = new Set(topo.services.filter((s) => s.kind === 'mariadb').map((s) => s.id));
  for (const h of hosts) {
    if (!h.plan) continue;
    h.plan = {
      ...h.plan,
      units: h.plan.units.map((u) =>
        u.serviceId === undefined || !dbIds.has(u.serviceId) ? u : u.serviceId === running ? { ...u, active: true, changed: false } : { ...u, active: false },
      ),
    };
  }
}

function unitOf(h: HostState, svc: ServiceInstance): { name: string; run: boolean; active: boolean } {
  const u = h.plan?.units.find((x) => x.serviceId === svc.id);
  if (!u) throw new HastackError(ErrorCode.INTERNAL, `the agent on ${h.session.node} has no unit for ${svc.id}`);
  return { name: u.name, run: h.reinstall || u.changed || !u.active, active: u.active };
}

async function waitHealthy(topo: Topology, h: HostState, svc: ServiceInstance): Promise<string> {
  const deadline = Date.now() + topo.config.supervisor.healthTimeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const r = await h.session.agentJson('probe', ['--id', svc.id, '--timeout-ms', '1000'], probeResultSchema, { timeoutMs: AGENT_TIMEOUT_MS });
      if (r.healthy) return `${r.role}${r.detail ? `, ${r.detail}` : ''}`;
      last = r.detail ?? r.role;
    } catch (e) {
      last = describeError(e);
    }
    if (Date.now() > deadline) {
      const tail = await h.session.ssh.exec(`tail -n 15 ${shq(`${svc.dir}/service.log`)}`).then(
        (r) => r.stdout,
        () => '',
      );
      throw new HastackError(
        ErrorCode.HEALTH_TIMEOUT,
        `${svc.id} on ${h.session.node} is not healthy after ${topo.config.supervisor.healthTimeoutMs} ms (${last}); its log ${svc.dir}/service.log ends:\n${tail}`,
      );
    }
    await sleep(PROBE_EVERY_MS);
  }
}

async function startServices(
  topo: Topology,
  secrets: Secrets,
  hosts: readonly HostState[],
  event: (m: string, d?: Record<string, unknown>) => void,
): Promise<{ started: string[]; unchanged: string[] }> {
  const byNode = new Map(hosts.map((h) => [h.session.node, h]));
  const started: string[] = [];
  const unchanged: string[] = [];
  for (const step of startPlan(topo)) {
    if (step.type === 'sentinels-ready') {
      if (!started.some((id) => id.endsWith('/sentinel') || id.endsWith('/redis'))) continue;
      event('waiting for the sentinels to discover the replicas and each other');
      // Asked from a Sentinel's host: their ports answer only cluster nodes (hosts/firewall.ts).
      const first = topo.services.find((s) => s.kind === 'sentinel');
      const h = first ? byNode.get(first.node) : undefined;
      if (h) await sentinelsReadyOnHosts(h.session, 30_000);
      else await waitSentinelsReady(topo, secrets, 30_000);
      continue;
    }
    if (step.type === 'migrate') {
      const app = topo.services.find((s) => s.kind === 'app');
      const h = app ? byNode.get(app.node) : undefined;
      if (!h) continue;
      event(`running the app's migrations on ${h.session.node}`);
      const output = await h.session.ssh.run(h.session.cli(['_migrate', '--state', hostStateDir(topo.config)]), { timeoutMs: MIGRATE_TIMEOUT_MS });
      // The output in the event log (bounded): app.migrate is the operator's command.
      event('migrations done', { output: output.split('\n').slice(-MIGRATE_EVENT_LINES).join('\n') });
      continue;
    }
    const due = step.services.map((svc) => ({ svc, h: must(byNode.get(svc.node)) })).map((x) => ({ ...x, unit: unitOf(x.h, x.svc) }));
    for (const x of due.filter((d) => !d.unit.run)) unchanged.push(x.svc.id);
    const bringUp = async ({ svc, h, unit }: (typeof due)[number]): Promise<void> => {
      event(`${svc.id}: ${unit.active ? 'restarting' : 'starting'} (unit ${unit.name})`);
      await h.session.agent('restart', [unit.name], { timeoutMs: AGENT_TIMEOUT_MS });
      const role = await waitHealthy(topo, h, svc);
      await h.session.agent('wire', ['--id', svc.id], { timeoutMs: AGENT_TIMEOUT_MS });
      started.push(svc.id);
      event(`${svc.id} healthy (${role})`);
    };
    // What does not run yet starts side by side; what runs is restarted one at a time, each
    // healthy before the next (a rolling restart: the load balancers and clients keep using
    // the others, so an edit deployed under load costs no request).
    await Promise.all(due.filter((d) => d.unit.run && !d.unit.active).map(bringUp));
    const rolled = due.filter((x) => x.unit.run && x.unit.active);
    for (const [i, d] of rolled.entries()) {
      await bringUp(d);
      // An app server answering its health path is not yet back in the load balancers' rotation:
      // they take it back after lb.rise good probes. Draining the next one before then can leave
      // them none (seen on a systemd host bed, where a restart takes ~6 s: 503s from the
      // balancers). So the next app server waits that long.
      if (d.svc.kind === 'app' && i < rolled.length - 1 && topo.services.some((s) => s.kind === 'lb')) {
        const lb = topo.config.lb;
        await sleep(lb.rise * lb.healthIntervalMs + lb.healthTimeoutMs);
      }
    }
  }
  return { started, unchanged };
}

/** The controller, backup timer and keepalived: started (or restarted) when new or changed. */
async function startOtherUnits(hosts: readonly HostState[], event: (m: string) => void): Promise<void> {
  for (const h of hosts) {
    const due = (h.plan?.units ?? []).filter((u) => u.serviceId === undefined && (h.reinstall || u.changed || !u.active));
    if (due.length === 0) continue;
    event(`${h.session.node}: starting ${due.map((u) => `${u.name} (${u.role})`).join(', ')}`);
    await h.session.agent(
      'restart',
      due.map((u) => u.name),
      { timeoutMs: AGENT_TIMEOUT_MS },
    );
  }
}
