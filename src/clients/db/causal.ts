import { ErrorCode, HastackError } from '../../shared/errors.js';
import { formatGtidPos, gtidCovers, mergeGtidPos, parseGtidPos, type GtidPos } from './gtid.js';

/**
 * The causal token of a session: what a read must have seen so that the session never reads
 * older data than its own writes. Pure.
 *
 * - empty: the session wrote nothing; any eligible replica will do.
 * - a GTID position (replication mode): a replica may answer once it has applied that position
 *   (`MASTER_GTID_WAIT`); the session's writes are in it.
 * - a Galera seqno (galera mode): the cluster-wide commit number of the session's last write
 *   (`wsrep_last_committed` on the writer right after COMMIT). Galera orders every commit of the
 *   cluster, so a node whose `wsrep_last_committed` reached it has applied that write and every
 *   earlier one: a read waits only for that number on the node it uses, never for the whole
 *   cluster (`wsrep_sync_wait`, which a dead member stalls until it is evicted).
 * - written-at-unknown-position: a write may have landed but its position could not be read (the
 *   connection dropped around the commit): reads then go to the writer.
 *
 * The text form (`toString`, `parse`) is what an app stores in its user's session to carry the
 * guarantee across HTTP requests: `v1:0-1-42`, `v1:@1234` (Galera), `v1:*`, or '' for nothing
 * written. The `v1:` prefix lets a later format be told apart from tokens still stored in sessions.
 */
export class CausalToken {
  /**
   * The node this session's last read-path read ran on (not part of the text form): the next read
   * goes there too while it still qualifies, so reads within one request never see the data go
   * back in time by moving to a node that is a few milliseconds behind the previous one.
   */
  readNode: string | undefined;

  private constructor(
    private pos: GtidPos,
    private unknown: boolean,
    /** Galera: the seqno a node must have committed (0n: none). */
    private seqno: bigint,
  ) {}

  static empty(): CausalToken {
    return new CausalToken(new Map(), false, 0n);
  }

  /** Parses the text form; throws BAD_REQUEST for anything else (tokens come from user sessions). */
  static parse(text: string): CausalToken {
    if (text === '') return CausalToken.empty();
    // The seqno is bounded to 19 digits (a signed 64-bit value): a token comes from a user session.
    const m = /^v1:(\*)?([0-9,-]*)(?:@(\d{1,19}))?$/.exec(text);
    if (!m) throw new HastackError(ErrorCode.BAD_REQUEST, `not a database session token: "${text.slice(0, 40)}" (expected what db.token() returned, e.g. "v1:0-1-42")`);
    return new CausalToken(parseGtidPos(m[2] ?? ''), m[1] === '*', BigInt(m[3] ?? '0'));
  }

  get isEmpty(): boolean {
    return !this.unknown && this.pos.size === 0 && this.seqno === 0n;
  }

  /** Galera: the commit seqno a node must have reached (0n when the session wrote nothing known). */
  get galeraSeqno(): bigint {
    return this.seqno;
  }

  /** Galera: has a node whose `wsrep_last_committed` is `committed` seen this session's writes? */
  seqnoCoveredBy(committed: bigint): boolean {
    return !this.unknown && committed >= this.seqno;
  }

  /**
   * Records a Galera write that committed at or before `seqno` (`wsrep_last_committed` read on the
   * writer right after COMMIT: at least the write's own number). Like a GTID, a known later number
   * covers every earlier commit, so it also clears an earlier unknown one.
   */
  observeSeqno(seqno: bigint): void {
    if (seqno <= 0n) {
      this.unknown = true;
      return;
    }
    if (seqno > this.seqno) this.seqno = seqno;
    this.unknown = false;
  }

  /** A write happened whose position is not known: reads must not rely on a GTID wait. */
  get positionUnknown(): boolean {
    return this.unknown;
  }

  /** The position to wait for, as the server writes it ('' when none). */
  get waitPos(): string {
    return formatGtidPos(this.pos);
  }

  /** Has a replica at `applied` (its @@gtid_slave_pos) seen everything this token needs? */
  coveredBy(applied: GtidPos): boolean {
    return !this.unknown && gtidCovers(applied, this.pos);
  }

  /**
   * Records a write at `gtid`. A known position also clears an earlier unknown one: hastack runs
   * one replication domain (gtid_domain_id=0) with strict GTID order, so a later commit's position
   * covers every earlier commit of the session.
   */
  observeWrite(gtid: string): void {
    const p = parseGtidPos(gtid);
    if (p.size === 0) {
      this.unknown = true;
      return;
    }
    this.pos = mergeGtidPos(this.pos, p);
    this.unknown = false;
  }

  observeUnknownWrite(): void {
    this.unknown = true;
  }

  /** Takes in another token (from a previous request): the session must now see its writes too. */
  absorb(other: CausalToken): void {
    this.pos = mergeGtidPos(this.pos, other.pos);
    this.unknown = this.unknown || other.unknown;
    if (other.seqno > this.seqno) this.seqno = other.seqno;
  }

  copy(): CausalToken {
    return new CausalToken(this.pos, this.unknown, this.seqno);
  }

  toString(): string {
    if (this.isEmpty) return '';
    return `v1:${this.unknown ? '*' : ''}${formatGtidPos(this.pos)}${this.seqno > 0n ? `@${this.seqno}` : ''}`;
  }
}
