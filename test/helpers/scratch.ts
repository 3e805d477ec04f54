import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { waitFor } from '../../src/shared/retry.js';

/** What `restore --keep --json` reports of the scratch server it left running. */
export interface KeptScratch {
  readonly pid: number;
  readonly socket: string;
  readonly dir: string;
}

/**
 * The customers of the orders matching `like` in `database` of a scratch server `restore --keep`
 * left running; the server is then stopped (by its pid) and its directory removed, whatever happened.
 */
export async function ordersInKeptScratch(scratch: KeptScratch, rootPassword: string, database: string, like: string): Promise<Set<string>> {
  try {
    const c = await mysql.createConnection({ socketPath: scratch.socket, user: 'root', password: rootPassword });
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT customer FROM ??.sales_orders WHERE customer LIKE ?', [database, like]);
      return new Set(rows.map((x) => String(x['customer'])));
    } finally {
      await c.end();
    }
  } finally {
    process.kill(scratch.pid, 'SIGTERM');
    await waitFor(async () => (fs.existsSync(`/proc/${scratch.pid}`) ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
    fs.rmSync(scratch.dir, { recursive: true, force: true });
  }
}

/** Every file under `dir` whose bytes contain `needle` (a backup's bytes searched for a known row). */
export function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const want = Buffer.from(needle);
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(want)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
