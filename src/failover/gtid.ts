/**
 * MariaDB GTID positions (`0-1-42,1-2-7`: domain-server-sequence per replication domain), parsed
 * and compared. In gtid_strict_mode sequence numbers only grow within a domain, whoever wrote
 * them, so "has everything" means: at least the same sequence number in every domain. Pure.
 */
export type GtidPos = ReadonlyMap<number, number>;

export function parseGtidPos(text: string): GtidPos {
  const out = new Map<number, number>();
  for (const part of text.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(t);
    if (!m) continue;
    const domain = Number(m[1]);
    out.set(domain, Math.max(out.get(domain) ?? 0, Number(m[3])));
  }
  return out;
}

/** True when `a` has every transaction `b` has (a ⊇ b, domain by domain). */
export function gtidCovers(a: GtidPos, b: GtidPos): boolean {
  for (const [domain, seq] of b) if ((a.get(domain) ?? 0) < seq) return false;
  return true;
}

/** 1: a ahead, -1: b ahead, 0: equal, undefined: each has something the other lacks. */
export function compareGtid(a: GtidPos, b: GtidPos): 1 | 0 | -1 | undefined {
  const ab = gtidCovers(a, b);
  const ba = gtidCovers(b, a);
  if (ab && ba) return 0;
  if (ab) return 1;
  if (ba) return -1;
  return undefined;
}

/** Transactions `a` lacks compared with `b`, summed over domains (a lag in transactions). */
export function gtidBehind(a: GtidPos, b: GtidPos): number {
  let n = 0;
  for (const [domain, seq] of b) n += Math.max(0, seq - (a.get(domain) ?? 0));
  return n;
}

/** The sequence ranges `b` has beyond `a`, one per domain ("domain 0: 43–57 (15)"). */
export function gtidMissing(a: GtidPos, b: GtidPos): string[] {
  const out: string[] = [];
  for (const [domain, seq] of b) {
    const have = a.get(domain) ?? 0;
    if (seq > have) out.push(`domain ${domain}: ${have + 1 === seq ? `${seq}` : `${have + 1}–${seq}`} (${seq - have})`);
  }
  return out;
}
