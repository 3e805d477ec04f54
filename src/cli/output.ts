import type { ClusterEvent } from '../shared/events.js';

/** How the user invoked us, for the commands we suggest (`./hastack` from the repo wrapper). */
export function invokedAs(): string {
  return process.env.HASTACK_INVOKED_AS ?? 'hastack';
}

/** One progress line per event: `[  3.2s] db1/mariadb healthy (primary)`. */
export function progressPrinter(t0 = Date.now()): (e: ClusterEvent) => void {
  return (e) => {
    const s = ((Date.parse(e.ts) - t0) / 1000).toFixed(1).padStart(5);
    process.stdout.write(`[${s}s] ${e.message}\n`);
  };
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** `-o text|json` on read commands and dry-run plans; `--json` is kept as its alias. */
export interface OutputOptions {
  readonly output?: 'text' | 'json';
  readonly json?: boolean;
}

export function isJson(o: OutputOptions): boolean {
  return o.output === 'json' || o.json === true;
}

/** Whether the command line asked for JSON (for an error thrown before the command parsed it). */
export function argvWantsJson(argv: readonly string[]): boolean {
  return argv.some((a, i) => a === '--json' || a === '--output=json' || a === '-ojson' || ((a === '-o' || a === '--output') && argv[i + 1] === 'json'));
}

/** Colour only on a terminal, never with NO_COLOR set (https://no-color.org). */
export function colourOn(stream: NodeJS.WriteStream = process.stdout): boolean {
  return stream.isTTY === true && (process.env.NO_COLOR ?? '') === '' && process.env.TERM !== 'dumb';
}

export function paint(text: string, code: 'red' | 'green' | 'yellow' | 'dim' | 'bold', stream: NodeJS.WriteStream = process.stdout): string {
  if (!colourOn(stream)) return text;
  const c = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 }[code];
  return `\x1b[${c}m${text}\x1b[0m`;
}
