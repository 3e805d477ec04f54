/**
 * MariaDB GTID positions (`@@gtid_binlog_pos`, `@@gtid_slave_pos`, `@@last_gtid`): a comma list of
 * `domain-server-seq`, at most one entry per replication domain. Pure, so it is tested without a
 * server. Sequence numbers are 64-bit on the server, hence bigint.
 */
export type GtidPos = ReadonlyMap<number, { readonly server: number; readonly seq: bigint }>;

const GTID = /^(\d+)-(\d+)-(\d+)$/;

/** Parses a position; entries that are not `d-s-n` are ignored (an empty string is an empty position). */
export function parseGtidPos(text: string): GtidPos {
  const pos = new Map<number, { server: number; seq: bigint }>();
  for (const part of text.split(',')) {
    const m = GTID.exec(part.trim());
    if (!m) continue;
    const domain = Number(m[1]);
    const seq = BigInt(m[3] as string);
    const prev = pos.get(domain);
    if (prev === undefined || seq > prev.seq) pos.set(domain, { server: Number(m[2]), seq });
  }
  return pos;
}

export function formatGtidPos(pos: GtidPos): string {
  return [...pos.entries()]
    .sort(([a], [b]) => a - b)
    .map(([d, g]) => `${d}-${g.server}-${g.seq}`)
    .join(',');
}

/** The per-domain maximum of two positions (what a reader must have seen to have seen both). */
export function mergeGtidPos(a: GtidPos, b: GtidPos): GtidPos {
  const out = new Map(a);
  for (const [d, g] of b) {
    const prev = out.get(d);
    if (prev === undefined || g.seq > prev.seq) out.set(d, g);
  }
  return out;
}

/** True when `have` contains every transaction of `want` (per domain, seq not behind). */
export function gtidCovers(have: GtidPos, want: GtidPos): boolean {
  for (const [d, g] of want) {
    const h = have.get(d);
    if (h === undefined || h.seq < g.seq) return false;
  }
  return true;
}

/**
 * How many transactions `behind` lacks compared with `ahead`, summed over domains. This is the
 * router's lag measure: with gtid_strict_mode every domain's sequence numbers count commits, so
 * the difference is an exact count of transactions not yet applied.
 */
export function gtidDistance(ahead: GtidPos, behind: GtidPos): number {
  let total = 0n;
  for (const [d, g] of ahead) {
    const b = behind.get(d)?.seq ?? 0n;
    if (g.seq > b) total += g.seq - b;
  }
  return Number(total);
}
