import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * Partition faults as data: a set of one-way links that are cut (every packet from `from` to
 * `to` dropped). Pure: the netns substrate turns a set into iptables rules, tests check the sets.
 *
 * `HOST` is the host's network namespace: the supervisor, the CLI and the chaos workload's
 * clients. By default it sees every node (it is the observer, like Jepsen's control node, which
 * reaches every node over a network the partition does not touch); a fault may put it on a side
 * to make a node unreachable from the clients too (`partition-lb`).
 */
export const HOST = '@host';

export interface Link {
  readonly from: string;
  readonly to: string;
}

export function linkKey(l: Link): string {
  return `${l.from}>${l.to}`;
}

function both(a: string, b: string): Link[] {
  return [
    { from: a, to: b },
    { from: b, to: a },
  ];
}

/** Every node of one side cut from every node of the other, both ways; nodes on no side see both. */
export function partitionLinks(sides: readonly [readonly string[], readonly string[]]): Link[] {
  const [a, b] = sides;
  const overlap = a.filter((n) => b.includes(n));
  if (overlap.length > 0) throw new HastackError(ErrorCode.BAD_REQUEST, `${overlap.join(', ')} cannot be on both sides of a partition`);
  if (a.length === 0 || b.length === 0) throw new HastackError(ErrorCode.BAD_REQUEST, 'a partition needs at least one node on each side');
  return a.flatMap((x) => b.flatMap((y) => both(x, y)));
}

/** `node` cut from every other node (and from the host when `fromHost`), both ways. */
export function isolateLinks(node: string, allNodes: readonly string[], fromHost: boolean): Link[] {
  const others = allNodes.filter((n) => n !== node);
  return partitionLinks([[node], fromHost ? [...others, HOST] : others]);
}

/** Packets from `from` to `to` dropped; the other direction still flows. */
export function cutLinks(from: string, to: string): Link[] {
  if (from === to) throw new HastackError(ErrorCode.BAD_REQUEST, `cannot cut ${from} from itself`);
  return [{ from, to }];
}

/** Adds links to a set, keeping each once (faults accumulate until healed). */
export function mergeLinks(current: readonly Link[], added: readonly Link[]): Link[] {
  const seen = new Map(current.map((l) => [linkKey(l), l]));
  for (const l of added) seen.set(linkKey(l), l);
  return [...seen.values()];
}

/**
 * Where each cut is enforced: in the namespace of the node that receives, as a DROP on INPUT for
 * the sender's address. Dropped on arrival, not refused and not stopped on the way out (a DROP on
 * OUTPUT makes the sender's own syscall fail with EPERM): the sender sees what a real partition
 * shows, a connection that hangs until its own timeout.
 * A cut towards the host can only be enforced together with the reverse cut (rules live in the
 * nodes' namespaces, never the host's): there the host's packets are dropped on arrival at the
 * node, which also stops every TCP exchange the node starts with the host.
 * Returns, per node, the sender addresses to drop.
 */
export function dropRules(links: readonly Link[], addressOf: (participant: string) => string): Map<string, string[]> {
  const keys = new Set(links.map(linkKey));
  const out = new Map<string, string[]>();
  for (const l of links) {
    if (l.to === HOST) {
      if (!keys.has(linkKey({ from: HOST, to: l.from }))) {
        throw new HastackError(ErrorCode.BAD_REQUEST, `a one-way cut from ${l.from} to the host is not supported; isolate ${l.from} from the host both ways`);
      }
      continue;
    }
    const list = out.get(l.to) ?? [];
    const addr = addressOf(l.from);
    if (!list.includes(addr)) list.push(addr);
    out.set(l.to, list);
  }
  return out;
}
