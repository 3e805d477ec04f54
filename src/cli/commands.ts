import fs from 'node:fs';
import path from 'node:path';
import { preset, isPresetName, readSecrets, renderConfigYaml, DEFAULT_CONFIG_FILE } from '../config/index.js';
import { runtimeFor } from '../runtime/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/files.js';
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
  const r = await runtimeFor(topo).down({ onEvent: progressPrinter(), say: (l) => void process.stdout.write(`${l}\n`), ...(opts.force ? { force: true } : {}) });
  process.stdout.write(`cluster "${topo.cluster}" ${r.summary}\n`);
}

export async function status(opts: ConfigOptions & { json?: boolean }): Promise<boolean> {
  const topo = loadRunningTopology(opts);
  const s = await runtimeFor(topo).status(readSecrets(topo.stateDir));
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

export async function logs(node: string, service: string | undefined, opts: ConfigOptions & { lines: number; follow?: boolean }): Promise<void> {
  const topo = loadRunningTopology(opts);
  const tails = await runtimeFor(topo).logs(node, service, opts.lines);
  const sizes = new Map<string, number>();
  for (const t of tails) {
    process.stdout.write(`==> ${t.localFile !== undefined ? path.relative(process.cwd(), t.localFile) : t.where} <==\n${t.text}\n`);
    if (t.localFile !== undefined) sizes.set(t.localFile, fs.statSync(t.localFile).size);
  }
  // --follow polls the files on this machine; a log on another host is shown once.
  const files = [...sizes.keys()];
  if (!opts.follow || files.length === 0) return;
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
