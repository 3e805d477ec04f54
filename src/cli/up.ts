import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  edgeTlsFiles,
  appHealthPath,
  demoDataOn,
  httpsPort,
  isCommandApp,
  lbTlsLocal,
  parseConfig,
  readSecrets,
  readTopology,
  servicesOf,
  type SubstrateName,
  type Topology,
} from '../config/index.js';
import { installCommand } from '../engines/index.js';
import { runtimeCapabilities } from '../runtime/index.js';
import { drillReplay, startBackupScheduler, startBinlogArchiver, type BackupScheduler, type BinlogArchiver, parseSchedule } from '../failover/index.js';
import { commitTopology, ensureNotRunning, prepareCluster, startDetached } from '../control/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { START_CHECKS } from './config-checks.js';
import { loadConfigSource, type ConfigOptions } from './config-source.js';
import { doctorReport, setupEngines } from './doctor.js';
import { invokedAs, progressPrinter } from './output.js';

/** Scheduled backups and drills; with the binlog archive, a drill replays it to a random second too. */
function startScheduler(topo: Topology): BackupScheduler | undefined {
  const secrets = readSecrets(topo.stateDir);
  return startBackupScheduler(topo, secrets, Date.now, drillReplay(topo, { password: secrets.dbRootPassword }));
}

export interface UpOptions extends ConfigOptions {
  readonly detach?: boolean;
  readonly install?: boolean;
  /** Overrides the config's `substrate` (`hastack up --substrate netns`). */
  readonly substrate?: 'local' | 'netns';
}

function ensureEngines(install: boolean, substrate: SubstrateName, appPackages: readonly string[]): void {
  const r = doctorReport({ substrate, appPackages });
  if (r.ok) return;
  const canInstall = install && os.userInfo().uid === 0 && fs.existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    throw new HastackError(ErrorCode.ENGINE_MISSING, `missing for ${r.scope}: ${r.missingPackages.join(', ')}. Install them with:\n  ${installCommand(r.missingPackages)}`);
  }
  setupEngines({ dryRun: false, scope: { substrate, appPackages } });
}

export async function up(opts: UpOptions): Promise<void> {
  const t0 = Date.now();
  // Every problem of the file, and what the layers above check, before any engine starts.
  const src = loadConfigSource(opts, START_CHECKS);
  if (!runtimeCapabilities(src.config).startsFromNothing && opts.substrate === undefined) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `${src.origin} puts the cluster on its machines ("substrate: hosts"): run "${invokedAs()} deploy" to install and start it there`,
    );
  }
  ensureEngines(opts.install ?? true, opts.substrate ?? src.config.substrate, src.config.app.packages);
  // Checked before anything starts: a bad cron field would otherwise surface in the supervisor.
  if (src.config.backup.schedule !== undefined) parseSchedule(src.config.backup.schedule);
  // Re-validated: the cross-field rules on node addresses depend on the substrate.
  const config = opts.substrate ? parseConfig({ ...src.config, substrate: opts.substrate }) : src.config;
  const topo = await prepareCluster(config, { stateRoot: src.stateRoot, configDir: src.configDir });
  const print = progressPrinter(t0);
  process.stdout.write(`hastack: bringing up cluster "${topo.cluster}" from ${src.origin}; state in ${topo.stateDir}\n`);
  await ensureNotRunning(topo, print);
  commitTopology(topo);
  if (opts.detach) {
    await startDetached(topo, print);
    printWhereToLook(topo, t0, true);
    return;
  }
  const cluster = await (await import('../control/open-cluster.js')).openCluster(topo, print);
  let stopRequested = false;
  // Filled once the cluster is up; the signal handlers are installed before that.
  const backups: { scheduler?: BackupScheduler; archiver?: BinlogArchiver } = {};
  const onSignal = (): void => {
    if (stopRequested) return;
    stopRequested = true;
    process.stdout.write('\nstopping the cluster (reverse order); wait for it\n');
    void Promise.all([backups.scheduler?.stop(), backups.archiver?.stop()])
      .then(() => cluster.stop())
      .then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await cluster.start();
  } catch (e) {
    if (stopRequested) return;
    process.stderr.write(`hastack: start failed (what had started was stopped): ${describeError(e)}\n`);
    process.exit(1);
  }
  backups.scheduler = startScheduler(topo);
  backups.archiver = startBinlogArchiver(topo, readSecrets(topo.stateDir));
  printWhereToLook(topo, t0, false);
  // The supervisor keeps running in this process until Ctrl-C or `hastack down`.
}

function printWhereToLook(topo: Topology, t0: number, detached: boolean): void {
  const me = invokedAs();
  const lbs = servicesOf(topo, 'lb');
  const dns = servicesOf(topo, 'dns');
  const first = lbs[0];
  const url = first ? `http://${first.address}:${first.port}/` : '(no load balancer)';
  const lines = [
    '',
    `cluster "${topo.cluster}" is up: ${topo.nodes.length} nodes, ${topo.services.length} services, healthy in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    `  app, through the load balancers:  ${lbs.map((l) => `http://${l.address}:${l.port}/`).join('  ')}`,
  ];
  const vip = topo.config.lb.vip;
  if (vip !== undefined && first) lines.push(`  floating address (lb.vip):        http://${vip}:${first.port}/`);
  if (dns.length > 0) {
    const d = dns[0];
    lines.push(
      `  DNS name ${topo.config.serviceName} served by ${dns.map((s) => `${s.address}:${s.port}`).join(', ')}  (dig @${d?.address} -p ${d?.port} ${topo.config.serviceName})`,
    );
  }
  lines.push(
    // A command app: its readiness path (its own README says what else to try). The example ERP
    // answers reads only with a session: log in as its demo clerk (demo data only).
    isCommandApp(topo.config)
      ? `  try:     curl -i ${url}${appHealthPath(topo.config).replace(/^\//, '')}`
      : demoDataOn(topo.config)
        ? `  try:     curl -c jar -H 'content-type: application/json' -d '{"username":"clerk","password":"clerk-demo"}' ${url}login && curl -b jar ${url}api/items`
        : `  try:     curl ${url}`,
    ...httpsLines(topo),
    `  dashboard: http://${topo.admin.address}:${topo.admin.port}/   (live status, event timeline, chaos reports; read-only)`,
    `  status:  ${me} status          logs: ${me} logs NODE [SERVICE]   events: ${path.join(topo.stateDir, 'events.jsonl')}`,
    detached ? `  stop:    ${me} down` : `  stop:    Ctrl-C here, or ${me} down from another terminal`,
    '',
  );
  process.stdout.write(lines.join('\n') + '\n');
}

/** With lb.tls: the HTTPS URLs and a curl line that works as printed (the cluster CA's file for `local`). */
function httpsLines(topo: Topology): string[] {
  if (topo.config.lb.tls === undefined) return [];
  const port = httpsPort(topo.config);
  const lbs = servicesOf(topo, 'lb');
  const first = lbs[0];
  if (first === undefined) return [];
  const p = port === 443 ? '' : `:${port}`;
  const name = topo.config.serviceName;
  // The certificate names the service name: curl is told where it lives (--resolve), so the
  // line works without the cluster's DNS; a public certificate needs no --cacert.
  const cacert = lbTlsLocal(topo.config) ? `--cacert ${edgeTlsFiles(topo).ca} ` : '';
  const url = `https://${name}${p}/`;
  const curl = `curl ${cacert}--resolve ${name}:${port}:${first.address}`;
  return [
    `  HTTPS (lb.tls):                   ${lbs.map((l) => `https://${l.address}${p}/`).join('  ')}   (${url} by name)`,
    demoDataOn(topo.config)
      ? `  try HTTPS: ${curl} -c jar -H 'content-type: application/json' -d '{"username":"clerk","password":"clerk-demo"}' ${url}login && ${curl} -b jar ${url}api/items`
      : `  try HTTPS: ${curl} ${url}`,
  ];
}

/** `_supervise`: the detached supervisor process. Exits 0 after a requested stop, 1 on failure. */
export async function supervise(stateDir: string): Promise<void> {
  // stdout and stderr are supervisor.log: on a full disk a write fails with an 'error' event,
  // which unhandled would end the process that keeps the cluster alive.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const topo = readTopology(stateDir);
  const cluster = await (await import('../control/open-cluster.js')).openCluster(topo);
  // Filled once the cluster is up; the signal handlers are installed before that.
  const backups: { scheduler?: BackupScheduler; archiver?: BinlogArchiver } = {};
  // The backup scheduler first: an aborted backup restarts the replica it held still.
  const stop = (): void =>
    void Promise.all([backups.scheduler?.stop(), backups.archiver?.stop()])
      .then(() => cluster.stop())
      .then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => undefined); // the terminal that ran `up --detach` may close
  try {
    await cluster.start();
  } catch (e) {
    process.stderr.write(`start failed: ${describeError(e)}\n`);
    process.exit(1);
  }
  backups.scheduler = startScheduler(topo);
  backups.archiver = startBinlogArchiver(topo, readSecrets(topo.stateDir));
}
