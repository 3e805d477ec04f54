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
