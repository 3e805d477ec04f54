import fs from 'node:fs';
import path from 'node:path';
import { runtimeFor } from '../runtime/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { sleep } from '../shared/retry.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { colourOn } from './output.js';

/*
 * `hastack logs [NODE [SERVICE]]`, compose-style: with no node every service's log, each line
 * prefixed `node/service | `; `-f` follows (new lines of every file interleaved as they come);
 * `--since` keeps the lines stamped after a moment; `-t` prefixes each line with its time.
 */

export interface LogsOptions extends ConfigOptions {
  /** Default: 40, or every line with --since. */
  readonly lines?: string;
  readonly follow?: boolean;
  readonly since?: string;
  readonly timestamps?: boolean;
}

/** `-n`: a whole number of lines, 0 or more. */
export function parseLines(v: string): number {
  if (!/^\d{1,7}$/.test(v)) throw new HastackError(ErrorCode.USAGE, `-n/--lines takes a whole number of lines (like 100), not "${v}"`);
  return Number(v);
}

const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since 10m` (before now), or a date and time (`2026-12-04T03:00:00Z`): epoch ms. */
export function parseSince(v: string, now = Date.now()): number {
  const rel = /^(\d+)(s|m|h|d)$/.exec(v);
  if (rel) return now - Number(rel[1]) * (UNIT_MS[rel[2] ?? 's'] ?? 1000);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HastackError(ErrorCode.USAGE, `--since takes a duration (30s, 10m, 2h, 1d) or a date and time (2026-12-04T03:00:00Z), not "${v}"`);
  return t;
}

/** The time a log line carries: pino's JSON `time` (epoch ms), or an ISO-like stamp at its start (MariaDB, Redis own formats aside). */
export function lineTime(line: string): number | undefined {
  if (line.startsWith('{')) {
    const m = /"time":\s*(\d{12,})/.exec(line) ?? /"ts":\s*"([^"]+)"/.exec(line);
    if (m?.[1] !== undefined) return /^\d+$/.test(m[1]) ? Number(m[1]) : Date.parse(m[1]);
  }
  const iso = /^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)/.exec(line);
  if (iso?.[1] !== undefined) {
    const t = Date.parse(iso[1].replace(' ', 'T'));
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** Lines at or after `since`; an unstamped line goes with the stamped line before it (a stack trace). */
export function linesSince(text: string, since: number | undefined): string[] {
  const lines = text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
  if (since === undefined) return lines;
  let keep = false;
  return lines.filter((l) => {
    const t = lineTime(l);
    if (t !== undefined) keep = t >= since;
    return keep;
  });
}

const COLOURS = [36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96];

function labelOf(where: string, node: string): string {
  return `${node}/${path.basename(path.dirname(where.replace(/^[^:/]+:/, '')))}`;
}

export async function logsCli(node: string | undefined, service: string | undefined, o: LogsOptions): Promise<void> {
  const since = o.since !== undefined ? parseSince(o.since) : undefined;
  const lines = o.lines !== undefined ? parseLines(o.lines) : since !== undefined ? undefined : 40;
  const topo = loadRunningTopology(o);
  if (node !== undefined && !topo.nodes.some((n) => n.name === node)) {
    throw new HastackError(ErrorCode.USAGE, `no node "${node}" in cluster "${topo.cluster}"; its nodes: ${topo.nodes.map((n) => n.name).join(', ')}`);
  }
  const runtime = await runtimeFor(topo);
  const nodes = node !== undefined ? [node] : topo.nodes.map((n) => n.name);
  // A longer tail when filtering by time: the moment asked for may be further back than -n.
  const tails = (await Promise.all(nodes.map(async (n) => (await runtime.logs(n, service, lines ?? 10_000)).map((t) => ({ ...t, label: labelOf(t.where, n) }))))).flat();
  const width = Math.max(...tails.map((t) => t.label.length), 0);
  const colour = colourOn();
  const prefix = (label: string, i: number): string => {
    const p = `${label.padEnd(width)} | `;
    return colour ? `\x1b[${COLOURS[i % COLOURS.length] ?? 36}m${p}\x1b[0m` : p;
  };
  const stamp = (l: string, read?: number): string => {
    if (!o.timestamps) return '';
    const t = lineTime(l) ?? read;
    return t !== undefined ? `${new Date(t).toISOString()} ` : `${' '.repeat(24)} `;
  };
  const sizes = new Map<string, number>();
  tails.forEach((t, i) => {
    let out = linesSince(t.text, since);
    if (lines !== undefined) out = lines === 0 ? [] : out.slice(-lines);
    for (const l of out) process.stdout.write(`${prefix(t.label, i)}${stamp(l)}${l}\n`);
    if (t.localFile !== undefined) sizes.set(t.localFile, fs.statSync(t.localFile).size);
  });
  if (!o.follow) return;
  const files = tails.flatMap((t, i) => (t.localFile !== undefined ? [{ file: t.localFile, label: t.label, i }] : []));
  if (files.length === 0)
    throw new HastackError(ErrorCode.USAGE, 'these logs are on other machines: --follow reads files on this one (ssh to the node and use journalctl -f, or tail the file)');
  const partial = new Map<string, string>();
  // Polled every 300 ms: simple, works for every file and rotation, and ends with Ctrl-C.
  for (;;) {
    await sleep(300);
    for (const f of files) {
      let size: number;
      try {
        size = fs.statSync(f.file).size;
      } catch {
        continue;
      }
      const prev = sizes.get(f.file) ?? 0;
      if (size < prev) sizes.set(f.file, 0); // rotated or truncated: start over
      if (size <= prev) continue;
      const fd = fs.openSync(f.file, 'r');
      const buf = Buffer.alloc(size - prev);
      fs.readSync(fd, buf, 0, buf.length, prev);
      fs.closeSync(fd);
      sizes.set(f.file, size);
      const text = (partial.get(f.file) ?? '') + buf.toString('utf8');
      const end = text.lastIndexOf('\n');
      partial.set(f.file, text.slice(end + 1));
      if (end < 0) continue;
      const now = Date.now();
      for (const l of text.slice(0, end).split('\n')) process.stdout.write(`${prefix(f.label, f.i)}${stamp(l, now)}${l}\n`);
    }
  }
}
