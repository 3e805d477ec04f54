import { ErrorCode, HastackError } from '../../shared/errors.js';
import { formatGtidPos, gtidCovers, mergeGtidPos, parseGtidPos, type GtidPos } from './gtid.js';

/**
 * The causal token of a session: what a read must have seen so that the session never reads
 * older data than its own writes. Pure.
 *
 * - empty: the session wrote nothing; any eligible replica will do.
 * - a GTID position (replication mode): a replica may answer once it has applied that position
 *   (`MASTER_GTID_WAIT`); the session's writes are in it.
 * - written-at-unknown-position: a write succeeded but its GTID could not be read (the connection
 *   dropped right after the commit), or the cluster is Galera, whose writes are not waited for by
 *   GTID: replication reads then go to the primary, Galera reads use `wsrep_sync_wait`.
 *
 * The text form (`toString`, `parse`) is what an app stores in its user's session to carry the
 * guarantee across HTTP requests: `v1:0-1-42`, `v1:*`, or '' for nothing written. The `v1:`
 * prefix lets a later format be told apart from tokens still stored in sessions.
 */
export class CausalToken {
  private constructor(
    private pos: GtidPos,
    private unknown: boolean,
  ) {}

  static empty(): CausalToken {
    return new CausalToken(new Map(), false);
  }

  /** Parses the text form; throws BAD_REQUEST for anything else (tokens come from user sessions). */
  static parse(text: string): CausalToken {
    if (text === '') return CausalToken.empty();
    const m = /^v1:(\*)?([0-9,-]*)$/.exec(text);
    if (!m) throw new HastackError(ErrorCode.BAD_REQUEST, `not a database session token: "${text.slice(0, 40)}" (expected what db.token() returned, e.g. "v1:0-1-42")`);
    return new CausalToken(parseGtidPos(m[2] ?? ''), m[1] === '*');
  }

  get isEmpty(): boolean {
    return !this.unknown && this.pos.size === 0;
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
  }

  copy(): CausalToken {
    return new CausalToken(this.pos, this.unknown);
  }

  toString(): string {
    if (this.isEmpty) return '';
    return `v1:${this.unknown ? '*' : ''}${formatGtidPos(this.pos)}`;
  }
}
