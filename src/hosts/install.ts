import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SERVICE_KINDS, tlsDir, heldSecrets, secretsFile, shippedAcmeCaFile, shippedCertificateDir, shippedCertificateFiles, vrrpVersion, type Topology } from '../config/index.js';
import { nodeTlsFiles } from '../engines/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { asRoot, managerFor, unitsOptions, type AgentEnv } from './agent-env.js';
import { applyFirewall } from './firewall.js';
import { ensureServiceUser, openPathsForServices, shareTlsWithDatabase, shareWithServiceUser } from './service-users.js';
import type { AgentPlan, DeployBundle, FileStatus } from './agent-types.js';
import { lineDiff, redact, secretsDiff } from './diff.js';
import { fillPlaceholders, renderCheckScript, renderKeepalivedConf, resolveInterface } from './keepalived.js';
import type { ManagedFile, ServiceManager } from './service-manager.js';
import { keepalivedCheckScript, serviceInputs, keepalivedConfFile, unitPrefix, unitsForNode, type UnitSpec } from './units.js';

/**
 * `_agent plan` and `apply`: the files one node should have (the cluster's topology, secrets and
 * config, its unit files or keeper specs, keepalived's config), compared with what is on disk,
 * and written where they differ. Units the topology no longer puts here are stopped and removed.
 */

function checkStateDir(env: AgentEnv, topo: Topology): void {
  if (path.resolve(env.stateDir) !== path.resolve(topo.stateDir)) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `--state ${env.stateDir} is not this cluster's state directory ${topo.stateDir} (hosts.stateDir/cluster); run the agent with --state ${topo.stateDir}`,
    );
  }
}

interface DesiredFile extends ManagedFile {
  /** The unit this file belongs to; absent for the cluster's own files (topology, secrets, config). */
  readonly unit?: string;
  readonly secret?: boolean;
}

/** The interface and prefix carrying `address` here (keepalived's `dev`), from `ip -o -4 addr`. */
function hostInterface(address: string): { iface: string; prefix: number } {
  let out = '';
  try {
    out = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8', timeout: 5_000 });
  } catch (e) {
    throw new HastackError(ErrorCode.SETUP_FAILED, `cannot list this host's addresses with "ip -o -4 addr" (${String(e)}); install iproute2`);
  }
  const r = resolveInterface(out, address);
  if (!r) throw new HastackError(ErrorCode.CONFIG_INVALID, `no network interface of ${os.hostname()} carries ${address}; fix nodes[].address for this host`);
  return r;
}

function desiredFiles(env: AgentEnv, bundle: DeployBundle, node: string, specs: readonly UnitSpec[], manager: ServiceManager): DesiredFile[] {
  const topo = bundle.topology;
  const s = topo.stateDir;
  const files: DesiredFile[] = [
    { path: path.join(s, 'topology.json'), content: JSON.stringify(topo, null, 2) + '\n', mode: 0o644 },
    { path: path.join(s, 'secrets.json'), content: JSON.stringify(bundle.secrets, null, 2) + '\n', mode: 0o600, secret: true },
    { path: path.join(s, 'hastack.yaml'), content: bundle.configYaml, mode: 0o644 },
  ];
  for (const spec of specs) {
    for (const f of manager.files(spec)) files.push({ ...f, unit: spec.name });
    const svc = topo.services.find((x) => x.id === spec.serviceId);
    if (svc) files.push({ path: path.posix.join(svc.dir, 'unit-inputs.json'), content: JSON.stringify(serviceInputs(topo, svc), null, 2) + '\n', mode: 0o644, unit: spec.name });
    // database.tls: this node's key pair and the cluster CA's certificate, owned by the database
    // unit (new certificates restart it). The key is 0600 in a 0700 directory, both the database
    // server's own user's (agentApply, shareTlsWithDatabase).
    if (svc?.kind === 'mariadb' && bundle.tls) {
      const f = nodeTlsFiles(topo, node);
      files.push({ path: f.ca, content: bundle.tls.ca, mode: 0o644, unit: spec.name });
      files.push({ path: f.cert, content: bundle.tls.cert, mode: 0o644, unit: spec.name });
      files.push({ path: f.key, content: bundle.tls.key, mode: 0o600, unit: spec.name });
    }
    // lb.tls: the certificates, 0600, owned by the load balancer's user (agentApply). No `unit`:
    // a new certificate needs no restart, the load balancer reloads a changed file within a second.
    if (svc?.kind === 'lb' && bundle.lbTls) {
      bundle.lbTls.certificates.forEach((c, i) => {
        const f = shippedCertificateFiles(topo.config, i);
        files.push({ path: f.certFile, content: c.cert, mode: 0o600 }, { path: f.keyFile, content: c.key, mode: 0o600, secret: true });
      });
      // Read when the load balancer starts its ACME loop: a new CA file restarts it.
      if (bundle.lbTls.acmeCa !== undefined) files.push({ path: shippedAcmeCaFile(topo.config), content: bundle.lbTls.acmeCa, mode: 0o600, unit: spec.name });
    }
    if (spec.role === 'keepalived') {
      const self = topo.nodes.find((n) => n.name === node);
      const nic = hostInterface(self?.address ?? '');
      const script = keepalivedCheckScript(topo, {});
      files.push({ path: script, content: renderCheckScript(topo, node, env.nodeBin), mode: 0o755, unit: spec.name });
      const authPass = bundle.secrets.vrrpPassword;
      // VRRPv3 has no authentication: no password needed (nor sent: deploy/needs.ts).
      if (authPass === undefined && vrrpVersion(topo.config) === 2) {
        throw new HastackError(
          ErrorCode.CONFIG_INVALID,
          'the deploy bundle has no "vrrpPassword" for keepalived; run "hastack deploy" with this hastack version (it adds the secret)',
        );
      }
      const conf = fillPlaceholders(renderKeepalivedConf({ topo, node, checkScript: script, ...(authPass !== undefined ? { authPass } : {}) }), nic.iface, nic.prefix);
      // 0600: it holds the VRRP password (keepalived runs as root and reads it as root).
      files.push({ path: keepalivedConfFile({}), content: conf, mode: 0o600, unit: spec.name });
    }
  }
  return files;
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function modeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).mode & 0o777;
  } catch {
    return undefined;
  }
}

function parseSecretsText(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null) return {};
    return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

interface Compared {
  readonly file: DesiredFile;
  readonly status: FileStatus;
  readonly diff?: string;
}

function compare(files: readonly DesiredFile[], bundle: DeployBundle): Compared[] {
  return files.map((file) => {
    const have = readIfExists(file.path);
    if (have === undefined) return { file, status: 'new' as const };
    if (have === file.content) {
      // Same text but readable by others where it must not be (written before it held a secret):
      // rewritten with the right mode. Looser wanted modes are left alone (no restart for a mode).
      const mode = modeOf(file.path);
      if (mode === undefined || (file.mode & 0o077) !== 0 || (mode & 0o077) === 0) return { file, status: 'same' as const };
      return { file, status: 'changed' as const, diff: `mode ${mode.toString(8)} -> ${file.mode.toString(8)}` };
    }
    if (file.secret) return { file, status: 'changed' as const, diff: secretsDiff(parseSecretsText(have), { ...bundle.secrets }) };
    // A changed private key is shown as changed, never as text.
    if (/\.key$/.test(file.path) && file.mode === 0o600) return { file, status: 'changed' as const, diff: '(private key replaced)' };
    const secrets = [...Object.values(bundle.secrets), ...Object.values(parseSecretsText(readIfExists(path.join(bundle.topology.stateDir, 'secrets.json'))))];
    return { file, status: 'changed' as const, diff: lineDiff(redact(have, secrets), redact(file.content, secrets)) };
  });
}

async function planFor(
  env: AgentEnv,
  bundle: DeployBundle,
  node: string,
): Promise<{ plan: AgentPlan; compared: Compared[]; stale: string[]; specs: UnitSpec[]; manager: ServiceManager }> {
  const topo = bundle.topology;
  checkStateDir(env, topo);
  const specs = unitsForNode(topo, node, unitsOptions(env, heldSecrets(bundle.secrets, secretsFile(topo.stateDir))));
  const manager = managerFor(env, topo, specs);
  const desired = desiredFiles(env, bundle, node, specs, manager);
  const compared = compare(desired, bundle);
  // Units installed here that the topology no longer puts on this node (a service moved away).
  const wanted = new Set(desired.map((f) => f.path));
  // Only this node's service units and the cluster-level ones: several nodes sharing one host
  // (a test bed) must not remove each other's services.
  const prefix = `${unitPrefix(topo.cluster)}-`;
  const mine = (f: string): boolean => {
    const base = path.basename(f).replace(/\.(service|timer|json)$/, '');
    return SERVICE_KINDS.some((k) => base === `${prefix}${node}-${k}`) || ['controller', 'keepalived', 'backup', 'binlog-archive'].some((r) => base === `${prefix}${r}`);
  };
  const stale = manager.installedFiles(topo.cluster).filter((f) => !wanted.has(f) && mine(f));
  // New passwords concern every unit. Any other change concerns the service units whose inputs it
  // touches (each has its `unit-inputs.json`, see serviceInputs), and the cluster-level units
  // (controller, backup, keepalived), which read the whole topology.
  const secretsChanged = compared.some((c) => c.file.secret === true && c.status !== 'same');
  const clusterChanged = compared.some((c) => c.file.unit === undefined && c.status !== 'same');
  const statuses = await manager.status(specs.map((s) => s.name));
  const plan: AgentPlan = {
    manager: manager.kind,
    ...(manager.note !== undefined ? { managerNote: manager.note } : {}),
    files: [
      ...compared.map((c) => ({ path: c.file.path, status: c.status, ...(c.diff !== undefined ? { diff: c.diff } : {}) })),
      ...stale.map((f) => ({ path: f, status: 'changed' as const, diff: `- (no longer wanted on ${node}: apply stops the unit and removes this file)` })),
    ],
    units: specs.map((s, i) => ({
      name: s.name,
      ...(s.serviceId !== undefined ? { serviceId: s.serviceId } : {}),
      role: s.role,
      changed: secretsChanged || (s.serviceId === undefined && clusterChanged) || compared.some((c) => c.file.unit === s.name && c.status !== 'same'),
      active: statuses[i]?.active ?? false,
    })),
  };
  return { plan, compared, stale, specs, manager };
}

/** `plan --node N`: what `apply` would change; changes nothing. */
export async function agentPlan(env: AgentEnv, bundle: DeployBundle, node: string): Promise<AgentPlan> {
  return (await planFor(env, bundle, node)).plan;
}

function writeAtomic(file: string, content: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  // Exact mode, fsync, rename, fsync of the directory (shared/files.ts).
  writeFileAtomic(file, content, mode);
}

/** `apply --node N`: writes what differs, makes the manager see it (no start). Prints the plan it applied. */
export async function agentApply(env: AgentEnv, bundle: DeployBundle, node: string): Promise<AgentPlan> {
  const { plan, compared, stale, specs, manager } = await planFor(env, bundle, node);
  fs.mkdirSync(bundle.topology.stateDir, { recursive: true, mode: 0o711 });
  if (bundle.tls) {
    fs.mkdirSync(tlsDir(bundle.topology.stateDir), { recursive: true, mode: 0o700 });
    fs.chmodSync(tlsDir(bundle.topology.stateDir), 0o700);
  }
  await manager.remove(stale);
  if (asRoot()) {
    // Each service's own account, and the paths its user must pass through to its directory.
    for (const svc of bundle.topology.services.filter((x) => x.node === node)) ensureServiceUser(svc.kind);
    openPathsForServices(bundle.topology, node);
    applyFirewall(bundle.topology, node);
  }
  const lbHere = bundle.lbTls !== undefined && bundle.topology.services.some((x) => x.node === node && x.kind === 'lb');
  if (lbHere) fs.mkdirSync(shippedCertificateDir(bundle.topology.config), { recursive: true, mode: 0o700 });
  for (const c of compared) if (c.status !== 'same') writeAtomic(c.file.path, c.file.content, c.file.mode);
  // lb.tls: the certificate directory and files are the load balancer's user's alone.
  if (lbHere && asRoot()) shareWithServiceUser('lb', shippedCertificateDir(bundle.topology.config));
  // The database server runs as hastack-mariadb: its TLS key is that user's alone.
  if (asRoot() && bundle.tls && bundle.topology.services.some((x) => x.node === node && x.kind === 'mariadb')) {
    shareTlsWithDatabase(tlsDir(bundle.topology.stateDir), nodeTlsFiles(bundle.topology, node).key);
  }
  // systemd opens StandardOutput=append: files itself and does not create their directories.
  for (const s of specs) {
    fs.mkdirSync(path.dirname(s.logFile), { recursive: true, mode: 0o700 });
    fs.mkdirSync(s.cwd, { recursive: true, mode: 0o700 });
  }
  await manager.install(
    specs,
    compared.some((c) => c.file.unit !== undefined && c.status !== 'same'),
  );
  return plan;
}
