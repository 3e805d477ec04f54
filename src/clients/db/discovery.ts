/** What probing one MariaDB node found. */
export type NodeProbe = { readonly id: string; readonly reachable: true; readonly readOnly: boolean } | { readonly id: string; readonly reachable: false; readonly error: string };

export interface PrimaryChoice {
  /** The node to send writes to, or undefined when no node may take them. */
  readonly primary: string | undefined;
  /** One line for logs: why this node, or why none. */
  readonly reason: string;
  /** More than one node accepts writes (expected with Galera; a split brain with replication). */
  readonly multipleWritable: boolean;
}

/**
 * Picks the primary from a round of probes, in topology order. A node qualifies only when it
 * answered and has `@@read_only = 0` (discovery is advice: the role is verified on the node).
 * The current primary is kept while it still qualifies, so processes do not hop between nodes.
 */
export function choosePrimary(probes: readonly NodeProbe[], current: string | undefined): PrimaryChoice {
  const writable = probes.filter((p) => p.reachable && !p.readOnly).map((p) => p.id);
  const multipleWritable = writable.length > 1;
  if (writable.length === 0) {
    const why = probes.map((p) => (p.reachable ? `${p.id}: read_only` : `${p.id}: ${p.error}`)).join('; ');
    return { primary: undefined, reason: `no writable MariaDB (${why || 'no mariadb services'})`, multipleWritable };
  }
  if (current !== undefined && writable.includes(current)) {
    return { primary: current, reason: `${current} still writable`, multipleWritable };
  }
  const first = writable[0] as string;
  const others = multipleWritable ? ` (also writable: ${writable.slice(1).join(', ')})` : '';
  return { primary: first, reason: `${first} is writable${others}`, multipleWritable };
}
