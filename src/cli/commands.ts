import fs from 'node:fs';
import path from 'node:path';
import { preset, isPresetName, readSecrets, renderConfigYaml, DEFAULT_APP_MODULE, DEFAULT_CONFIG_FILE } from '../config/index.js';
import { backupStatusLines, describeArchiveStatus } from '../failover/index.js';
import { runtimeFor } from '../runtime/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
import { sleep } from '../shared/retry.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, progressPrinter, table } from './output.js';
import { stoppedClusterStart } from './running.js';
import { packageRoot } from '../shared/module-path.js';

export function init(opts: { preset: string; file?: string; force?: boolean }): void {
  if (!isPresetName(opts.preset)) throw new ConfigError('--preset', `unknown preset "${opts.preset}"; use ideal or simple`);
  const file = opts.file ?? DEFAULT_CONFIG_FILE;
  if (fs.existsSync(file) && !opts.force) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${file} already exists; pass --force to overwrite it`);
  }
  const input = preset(opts.preset);
  // Outside the checkout "examples/erp" beside the file does not exist: name the package's own.
  const root = packageRoot();
  const beside = path.resolve(path.dirname(path.resolve(file)), DEFAULT_APP_MODULE);
  const app =
    input.app?.module === undefined && input.app?.command === undefined && !fs.existsSync(beside) ? { app: { ...input.app, module: path.join(root, DEFAULT_APP_MODULE) } } : {};
  // Editors with the YAML language server complete and check keys from the schema the build writes.
  const schema = path.join(root, 'dist', 'hastack.schema.json');
  const modeline = fs.existsSync(schema) ? `# yaml-language-server: $schema=${schema}\n` : '';
  writeFileAtomic(file, modeline + renderConfigYaml({ ...input, ...app }), 0o644);
  process.stdout.write(`wrote ${file} (preset ${opts.preset}); check it with "${invokedAs()} config validate -f ${file}", then run "${invokedAs()} up"\n`);
}

export async function down(opts: ConfigOptions & { force?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  const r = await (await runtimeFor(topo)).down({ onEvent: progressPrinter(), say: (l) => void process.stdout.write(`${l}\n`), ...(opts.force ? { force: true } : {}) });
  process.stdout.write(`cluster "${topo.cluster}" ${r.summary}\n`);
}

export async function status(opts: ConfigOptions & { json?: boolean }): Promise<boolean> {
  const topo = loadRunningTopology(opts);
  const runtime = await runtimeFor(topo);
  // A cluster this machine supervises and whose supervisor is gone is stopped: say so at once
  // rather than probe every service for seconds and print their connection errors.
  const start = stoppedClusterStart(topo, opts);
  if (start !== undefined) {
    if (opts.json) process.stdout.write(JSON.stringify({ cluster: topo.cluster, supervisorPid: null, state: 'stopped', services: [], start }, null, 2) + '\n');
    else process.stdout.write(`cluster ${topo.cluster}: stopped (no supervisor runs it); start it with: ${start}\n`);
    return false;
  }
  const s = await runtime.status(readSecrets(topo.stateDir));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ...s, backup: backupStatusLines(topo) }, null, 2) + '\n');
  } else {
    const healthy = s.services.filter((x) => x.healthy).length;
    process.stdout.write(`cluster ${s.cluster}: ${s.state}, supervisor pid ${s.supervisorPid ?? '-'}, ${healthy}/${s.services.length} services healthy\n\n`);
    if (s.autoFailover) process.stdout.write(`!! ${s.autoFailover}\n\n`);
    const rows = [['NODE', 'SERVICE', 'ADDRESS', 'PID', 'ROLE', 'HEALTH', 'RESTARTS', 'DETAIL']];
    for (const x of s.services) {
      rows.push([x.node, x.service, `${x.address}:${x.port}`, String(x.pid ?? '-'), x.role, x.healthy ? 'healthy' : 'DOWN', String(x.restarts), x.detail ?? '']);
    }
    process.stdout.write(table(rows) + '\n');
    for (const b of backupStatusLines(topo)) process.stdout.write(`${b.warning ? 'WARNING ' : ''}${b.line}\n`);
    const archive = s.archive ?? describeArchiveStatus(topo);
    if (archive) process.stdout.write(`\n${archive.line}\n`);
  }
  return s.services.every((x) => x.healthy);
}

/** `status --watch [SECONDS]`: the table again every interval, the screen cleared on a terminal. */
export async function statusWatch(opts: ConfigOptions & { json?: boolean; watch?: boolean | string }): Promise<void> {
  const s = opts.watch === true || opts.watch === undefined ? 2 : Number(opts.watch);
  if (!Number.isFinite(s) || s < 0.5 || s > 3600) throw new HastackError(ErrorCode.USAGE, `--watch takes seconds between probes, 0.5 to 3600, not "${String(opts.watch)}"`);
  for (;;) {
    if (process.stdout.isTTY && !opts.json) process.stdout.write('\x1b[H\x1b[2J');
    if (!opts.json) process.stdout.write(`${new Date().toISOString()}  every ${s} s (Ctrl-C to stop)\n`);
    await status(opts);
    await sleep(s * 1000);
  }
}
