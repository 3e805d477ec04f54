import { Packet } from 'dns2';

/**
 * What hastack's DNS says, as a pure function of the query and the current set of addresses.
 * We are authoritative for exactly one name, the service name; everything else does not exist.
 */

/** RFC 1035 §4.1.1 response codes (dns2 has them at runtime but not in its type declarations). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** RFC 1035 §4.1.1: opcode 0 is a standard query; we implement nothing else. */
const OPCODE_QUERY = 0;

export interface Zone {
  /** The service name, lower case, without a trailing dot. */
  readonly name: string;
  readonly ttlS: number;
}

/** `Erp.Hastack.TEST.` → `erp.hastack.test`: DNS names compare case-insensitively (RFC 4343). */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The response to `request`. `addresses` are the A records for the service name, already in
 * the order to give (the caller rotates them so clients that take the first address spread).
 * - the service name, type A or ANY: the addresses, authoritative, with the zone's TTL;
 * - the service name, another type: NOERROR with no answers (the name exists, that type not:
 *   NXDOMAIN here would make resolvers cache "no such name" for the A record too);
 * - any other name: NXDOMAIN.
 */
export function answerQuery(request: Packet, zone: Zone, addresses: readonly string[]): Packet {
  const response = Packet.createResponseFromRequest(request);
  response.header.aa = 1;
  response.header.ra = 0; // we never recurse
  if (request.header.opcode !== OPCODE_QUERY) {
    response.header.aa = 0;
    response.header.rcode = RCODE.NOTIMP;
    return response;
  }
  // Real resolvers send exactly one question (RFC 9619); anything else is malformed for us.
  const q = request.questions[0];
  if (request.questions.length !== 1 || q === undefined) {
    response.header.aa = 0;
    response.header.rcode = RCODE.FORMERR;
    return response;
  }
  if (normalizeName(q.name) !== zone.name) {
    response.header.rcode = RCODE.NXDOMAIN;
    return response;
  }
  response.header.rcode = RCODE.NOERROR;
  const classOk = q.class === Packet.CLASS.IN || q.class === Packet.CLASS.ANY;
  if (classOk && (q.type === Packet.TYPE.A || q.type === Packet.TYPE.ANY)) {
    for (const address of addresses) {
      response.answers.push(
        Packet.createResourceFromQuestion(q, { type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: zone.ttlS, address }),
      );
    }
  }
  return response;
}

/** `list` rotated left by `offset` (a new array; `list` is not changed). */
export function rotate<T>(list: readonly T[], offset: number): T[] {
  const n = list.length;
  if (n === 0) return [];
  const k = ((offset % n) + n) % n;
  return [...list.slice(k), ...list.slice(0, k)];
}
