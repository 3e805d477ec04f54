/*
 * Full-cluster recovery of a Galera cluster, as pure decisions: which node to bootstrap, in which
 * order the others join, and which nodes cannot be trusted as a source. No engine, no files here:
 * the facts come in (grastate.dat, `mariadbd --wsrep-recover`, state-transfer markers), a plan or
 * a refusal goes out. The known trap this exists for: bootstrapping a node that is not the most
 * advanced one silently drops every transaction only the others had (mariadb-operator 1108, 1626).
 */

/** A Galera position: the cluster's state UUID and the last transaction seqno applied. */
export interface GaleraPosition {
  readonly uuid: string;
  readonly seqno: number;
}

/** The contents of `grastate.dat`. seqno -1 means "not shut down cleanly" (or never joined). */
export interface Grastate extends GaleraPosition {
  readonly safeToBootstrap: boolean;
}

/** The UUID a node has before it ever joined a cluster. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** Parses grastate.dat. Undefined when the text is not one (missing uuid or seqno). Pure. */
export function parseGrastate(text: string): Grastate | undefined {
  const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(\\S+)\\s*$`, 'm').exec(text)?.[1];
  const uuid = field('uuid');
  const seqno = field('seqno');
  if (uuid === undefined || seqno === undefined || !/^-?\d+$/.test(seqno)) return undefined;
  return { uuid, seqno: Number(seqno), safeToBootstrap: field('safe_to_bootstrap') === '1' };
}

/** grastate.dat as Galera 26.4 writes it (version 2.1), with the given bootstrap flag. Pure. */
export function renderGrastate(g: Grastate): string {
  return ['# GALERA saved state', 'version: 2.1', `uuid:    ${g.uuid}`, `seqno:   ${g.seqno}`, `safe_to_bootstrap: ${g.safeToBootstrap ? 1 : 0}`, ''].join('\n');
}

/**
 * The position `mariadbd --wsrep-recover` printed ("WSREP: Recovered position: UUID:SEQNO"); the
 * last one when the log holds several runs. Pure.
 */
export function parseRecoveredPosition(log: string): GaleraPosition | undefined {
  const re = /WSREP: Recovered position:\s+([0-9a-f-]{36}):(-?\d+)/g;
  let last: GaleraPosition | undefined;
  for (let m = re.exec(log); m !== null; m = re.exec(log)) last = { uuid: m[1] as string, seqno: Number(m[2]) };
  return last;
}

/** What hastack knows about one node before recovery. */
export interface NodeFacts {
  readonly node: string;
  /** False when the node has no datadir at all (new or wiped): it can only join with a full SST. */
  readonly hasDatadir: boolean;
  readonly grastate?: Grastate;
  /** From `mariadbd --wsrep-recover`, run when grastate's seqno is -1 (a crash). */
  readonly recovered?: GaleraPosition;
  /** Why `--wsrep-recover` gave no position, when it was run and failed. */
  readonly recoverError?: string;
  /**
   * A state transfer into this node was interrupted: `sst_in_progress` or a `.sst` directory in
   * its datadir (left by wsrep_sst_mariabackup in MariaDB 10.11). Its data is a partial copy.
   */
  readonly sstInterrupted: boolean;
}

/** The node's last committed position: grastate's after a clean shutdown, else the recovered one. Pure. */
export function positionOf(f: NodeFacts): GaleraPosition | undefined {
  if (f.grastate && f.grastate.seqno >= 0 && f.grastate.uuid !== NIL_UUID) return f.grastate;
  if (f.recovered && f.recovered.seqno >= 0 && f.recovered.uuid !== NIL_UUID) return f.recovered;
  return undefined;
}

export interface Excluded {
  readonly node: string;
  readonly reason: string;
}

export type RecoveryPlan =
  | {
      readonly ok: true;
      readonly bootstrap: string;
      /** The position the bootstrap node starts from (`--wsrep-start-position`). */
      readonly position: GaleraPosition;
      /** Every other node, most advanced first: each joins once the one before is synced. */
      readonly joinOrder: readonly string[];
      /** Nodes that cannot be the bootstrap source (they still join, by a full state transfer). */
      readonly excluded: readonly Excluded[];
      /** One line for humans: why this node. */
      readonly reason: string;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Installed but never part of a cluster: grastate says nil UUID, or there is no grastate and
 * --wsrep-recover found nil (a datadir from an `up` interrupted before its first start). Pure.
 */
function neverJoined(f: NodeFacts): boolean {
  const recoveredNil = f.recovered !== undefined && f.recovered.uuid === NIL_UUID;
  if (f.grastate === undefined) return recoveredNil;
  return f.grastate.uuid === NIL_UUID && (f.recovered === undefined || recoveredNil);
}

/** No node holds any cluster's data (all new, wiped or never started): a first bootstrap, not a recovery. Pure. */
export function isFreshCluster(facts: readonly NodeFacts[]): boolean {
  return facts.every((f) => !f.hasDatadir || (!f.sstInterrupted && neverJoined(f)));
}

function exclusionReason(f: NodeFacts): string | undefined {
  if (!f.hasDatadir) return 'no datadir (new or wiped node): joins with a full state transfer';
  if (f.sstInterrupted)
    return 'a state transfer into it was interrupted (sst_in_progress or .sst left in its datadir): its data is a partial copy; joins with a full state transfer';
  if (neverJoined(f)) return 'never joined a cluster (nil UUID): joins with a full state transfer';
  return undefined;
}

const describePos = (p: GaleraPosition): string => `${p.uuid}:${p.seqno}`;

/**
 * Chooses the bootstrap node: the highest seqno among the nodes whose data is whole; on a tie
 * the one grastate marks safe_to_bootstrap (the last to leave after a clean shutdown), then
 * topology order (the order of `facts`). Refuses rather than guesses:
 * - a node with a datadir whose position cannot be read might be the most advanced one;
 * - nodes that disagree on the cluster UUID are not one cluster's history;
 * - with no candidate at all there is nothing to bootstrap from. Pure.
 */
export function planRecovery(facts: readonly NodeFacts[]): RecoveryPlan {
  if (facts.length === 0) return { ok: false, reason: 'no mariadb nodes in the topology' };
  const excluded: Excluded[] = [];
  const candidates: Array<{ f: NodeFacts; pos: GaleraPosition; index: number }> = [];
  for (const [index, f] of facts.entries()) {
    const why = exclusionReason(f);
    if (why !== undefined) {
      excluded.push({ node: f.node, reason: why });
      continue;
    }
    const pos = positionOf(f);
    if (!pos) {
      return {
        ok: false,
        reason:
          `the position of ${f.node} is unknown (${f.recoverError ?? 'grastate seqno -1 and --wsrep-recover gave none'}); ` +
          `it may hold the newest transactions, so no node is bootstrapped. Read its wsrep-recover.log and mariadb.err; ` +
          `if its data is lost for good, move its datadir away and run the recovery again`,
      };
    }
    candidates.push({ f, pos, index });
  }
  if (candidates.length === 0) {
    return { ok: false, reason: `no node has whole data to bootstrap from (${excluded.map((e) => `${e.node}: ${e.reason}`).join('; ')}); restore one from a backup` };
  }
  const uuids = [...new Set(candidates.map((c) => c.pos.uuid))];
  if (uuids.length > 1) {
    const who = candidates.map((c) => `${c.f.node}: ${c.pos.uuid}`).join(', ');
    return {
      ok: false,
      reason: `the nodes disagree on the cluster UUID (${who}): they hold different histories. Decide which is right, move the others' datadirs away, and run the recovery again`,
    };
  }
  const ranked = [...candidates].sort(
    (a, b) => b.pos.seqno - a.pos.seqno || Number(b.f.grastate?.safeToBootstrap ?? false) - Number(a.f.grastate?.safeToBootstrap ?? false) || a.index - b.index,
  );
  const best = ranked[0] as (typeof ranked)[number];
  const ties = ranked.filter((c) => c.pos.seqno === best.pos.seqno).length;
  const reason =
    ranked.length === 1
      ? `${best.f.node} is the only node with whole data (position ${describePos(best.pos)})`
      : ties > 1
        ? `${best.f.node} shares the highest seqno ${best.pos.seqno} with ${ties - 1} other(s)` +
          (best.f.grastate?.safeToBootstrap ? ' and was the last to leave (safe_to_bootstrap: 1)' : '; first in topology order')
        : `${best.f.node} has the highest seqno ${best.pos.seqno} (next: ${(ranked[1] as (typeof ranked)[number]).f.node} at ${(ranked[1] as (typeof ranked)[number]).pos.seqno})`;
  return {
    ok: true,
    bootstrap: best.f.node,
    position: best.pos,
    joinOrder: [...ranked.slice(1).map((c) => c.f.node), ...excluded.map((e) => e.node)],
    excluded,
    reason,
  };
}

/** The plan as lines for `--dry-run` and the event log: the facts, then the decision. Pure. */
export function describeRecovery(facts: readonly NodeFacts[], plan: RecoveryPlan): string[] {
  const lines = facts.map((f) => {
    const g = f.grastate ? `grastate ${describePos(f.grastate)} safe_to_bootstrap=${f.grastate.safeToBootstrap ? 1 : 0}` : f.hasDatadir ? 'no grastate.dat' : 'no datadir';
    const r = f.recovered ? `, wsrep-recover ${describePos(f.recovered)}` : f.recoverError ? `, wsrep-recover failed: ${f.recoverError}` : '';
    return `  ${f.node}: ${g}${r}${f.sstInterrupted ? ', INTERRUPTED STATE TRANSFER' : ''}`;
  });
  if (!plan.ok) return ['facts:', ...lines, `refused: ${plan.reason}`];
  return [
    'facts:',
    ...lines,
    `bootstrap ${plan.bootstrap} from ${describePos(plan.position)}: ${plan.reason}`,
    `then join, one at a time: ${plan.joinOrder.length > 0 ? plan.joinOrder.join(', ') : '(no other node)'}`,
    ...plan.excluded.map((e) => `  not a source: ${e.node}: ${e.reason}`),
  ];
}
