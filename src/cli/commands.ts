import fs from 'node:fs';
import path from 'node:path';
import { preset, isPresetName, readSecrets, renderConfigYaml, DEFAULT_CONFIG_FILE, type Topology } from '../config/index.js';
import { clusterStatus, logFileOf, releaseSubstrate, stopCluster, substrateFor } from '../control/index.js';
import { driverFor } from '../drivers/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { tailFile, writeFileAtomic } from '../shared/files.js';
import { sleep } from '../shared/retry.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, progressPrinter, table } from './output.js';

export function init(opts: { preset: string; file?: string; force?: boolean }): void {
  if (!isPresetName(opts.preset)) throw new ConfigError('--preset', `unknown preset "${opts.preset}"; use ideal or simple`);
  const file = opts.file ?? DEFAULT_CONFIG_FILE;
  if (fs.existsSync(file) && !opts.force) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${file} already exists; pass --force to overwrite it`);
  }
  writeFileAtomic(file, renderConfigYaml(preset(opts.preset)), 0o644);
  process.stdout.write(`wrote ${file} (preset ${opts.preset}); edit it, then run "${invokedAs()} up"\n`);
}

export async function down(opts: ConfigOptions & { force?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  if (topo.config.substrate === 'hosts') {
    const r = await (await import('../hosts/down.js')).downHosts(topo, (l) => void process.stdout.write(`${l}\n`));
    if (r.failed.length > 0) throw new HastackError(ErrorCode.SETUP_FAILED, `stopped ${r.stopped} unit(s), but: ${r.failed.join('; ')}`);
    process.stdout.write(`cluster "${topo.cluster}": ${r.stopped} unit(s) stopped on ${topo.nodes.length} host(s); its files and data stay (deploy starts it again)\n`);
    return;
  }
  const print = progressPrinter();
  const { wasRunning } = await stopCluster(topo, { onEvent: print });
  // stopCluster already released the substrate of a recorded run; --force sweeps after a crash
  // that left no record (or a record removed by hand).
  if (opts.force && !wasRunning) await releaseSubstrate(topo, substrateFor(topo), print);
  process.stdout.write(wasRunning ? `cluster "${topo.cluster}" stopped; no process left\n` : `cluster "${topo.cluster}" was not running\n`);
}

export async function status(opts: ConfigOptions & { json?: boolean }): Promise<boolean> {
  const topo = loadRunningTopology(opts);
  const s = await clusterStatus(topo, readSecrets(topo.stateDir));
  if (opts.json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  } else {
    const healthy = s.services.filter((x) => x.healthy).length;
    process.stdout.write(`cluster ${s.cluster}: ${s.state}, supervisor pid ${s.supervisorPid ?? '-'}, ${healthy}/${s.services.length} services healthy\n\n`);
    const rows = [['NODE', 'SERVICE', 'ADDRESS', 'PID', 'ROLE', 'HEALTH', 'RESTARTS', 'DETAIL']];
    for (const x of s.services) {
      rows.push([x.node, x.service, `${x.address}:${x.port}`, String(x.pid ?? '-'), x.role, x.healthy ? 'healthy' : 'DOWN', String(x.restarts), x.detail ?? '']);
    }
    process.stdout.write(table(rows) + '\n');
  }
  return s.services.every((x) => x.healthy);
}

function logFilesOf(topo: Topology, node: string, service?: string): string[] {
  const svcs = topo.services.filter((s) => s.node === node && (service === undefined || s.kind === service));
  if (svcs.length === 0) {
    const nodes = [...new Set(topo.services.map((s) => s.node))].join(', ');
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${service ?? 'service'} on node "${node}"; nodes: ${nodes}`);
  }
  const files: string[] = [];
  for (const svc of svcs) {
    const asRoot = process.getuid?.() === 0;
    const ctx = { topo, secrets: readSecrets(topo.stateDir), svc, asRoot };
    files.push(logFileOf(svc), ...(driverFor(svc.kind).logFiles?.(ctx) ?? []));
  }
  return files.filter((f) => fs.existsSync(f));
}

export async function logs(node: string, service: string | undefined, opts: ConfigOptions & { lines: number; follow?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  if (topo.config.substrate === 'hosts') {
    process.stdout.write(await (await import('../hosts/logs.js')).hostLogs(topo, node, service, opts.lines));
    return;
  }
  const files = logFilesOf(topo, node, service);
  const sizes = new Map<string, number>();
  for (const f of files) {
    process.stdout.write(`==> ${path.relative(process.cwd(), f)} <==\n${tailFile(f, opts.lines)}\n`);
    sizes.set(f, fs.statSync(f).size);
  }
  if (!opts.follow) return;
  // Follow by polling sizes: simple, works for every file, and ends with Ctrl-C.
  for (;;) {
    await sleep(300);
    for (const f of files) {
      const size = fs.statSync(f).size;
      const prev = sizes.get(f) ?? 0;
      if (size > prev) {
        const fd = fs.openSync(f, 'r');
        const buf = Buffer.alloc(size - prev);
        fs.readSync(fd, buf, 0, buf.length, prev);
        fs.closeSync(fd);
        process.stdout.write(files.length > 1 ? buf.toString('utf8').replace(/^(?=.)/gm, `${path.basename(path.dirname(f))}| `) : buf.toString('utf8'));
      }
      sizes.set(f, size);
    }
  }
}
