import { Packet } from 'dns2';

/**
 * What hastack's DNS says, as a pure function of the query, the zone and the current set of
 * load-balancer addresses.
 *
 * The zone is the service name's parent domain (`erp.hastack.test` → `hastack.test`; a name of
 * one or two labels is its own zone). In it we are authoritative for: the zone's SOA and NS
 * records (one name server `nsN.<zone>` per hastack DNS server, with its A record), and the
 * service name's A records (the load balancers). Any other name in the zone does not exist;
 * names outside it are not ours and are REFUSED, which tells a resolver to ask someone else
 * rather than cache a wrong "does not exist".
 */

/** RFC 1035 §4.1.1 response codes (dns2 has them at runtime but not in its type declarations). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** RFC 1035 §4.1.1: opcode 0 is a standard query; we implement nothing else. */
const OPCODE_QUERY = 0;

/**
 * SOA timers (RFC 1912 §2.2 ranges). Nobody transfers this zone (each server computes its own
 * answers), so refresh/retry/expire only matter to tools that read them; `minimum` is the
 * negative-caching TTL (RFC 2308) and is set to the record TTL, so a "no such name" is
 * forgotten as fast as an answer.
 */
const SOA_REFRESH_S = 3600;
const SOA_RETRY_S = 600;
const SOA_EXPIRE_S = 86_400;

export interface NameServer {
  /** `ns1.<zone>`, lower case. */
  readonly name: string;
  readonly address: string;
}

export interface Zone {
  /** The zone apex, lower case, without a trailing dot. */
  readonly apex: string;
  /** The service name, lower case, without a trailing dot. */
  readonly service: string;
  readonly ttlS: number;
  /** One per hastack DNS server, in a stable order. */
  readonly nameServers: readonly NameServer[];
  /** SOA serial: the server's start time in seconds, so it grows across restarts. */
  readonly serial: number;
}

/** `Erp.Hastack.TEST.` → `erp.hastack.test`: DNS names compare case-insensitively (RFC 4343). */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** The zone of `serviceName`: its parent domain, or itself when it has two labels or fewer. */
export function zoneApexOf(serviceName: string): string {
  const name = normalizeName(serviceName);
  const labels = name.split('.');
  return labels.length >= 3 ? labels.slice(1).join('.') : name;
}

export function makeZone(serviceName: string, ttlS: number, dnsAddresses: readonly string[], serial: number): Zone {
  const apex = zoneApexOf(serviceName);
  return {
    apex,
    service: normalizeName(serviceName),
    ttlS,
    nameServers: dnsAddresses.map((address, i) => ({ name: `ns${i + 1}.${apex}`, address })),
    serial,
  };
}

type Resource = ReturnType<typeof Packet.createResourceFromQuestion>;

function record(name: string, type: number, fields: Partial<Resource>): Resource {
  return Packet.createResourceFromQuestion(new Packet.Question(name, type, Packet.CLASS.IN), { type, class: Packet.CLASS.IN, ...fields });
}

function inZone(name: string, apex: string): boolean {
  return name === apex || name.endsWith(`.${apex}`);
}

function soa(zone: Zone): Resource {
  return record(zone.apex, Packet.TYPE.SOA, {
    ttl: zone.ttlS,
    primary: zone.nameServers[0]?.name ?? zone.apex,
    admin: `hostmaster.${zone.apex}`,
    serial: zone.serial,
    refresh: SOA_REFRESH_S,
    retry: SOA_RETRY_S,
    expiration: SOA_EXPIRE_S,
    minimum: zone.ttlS,
  });
}

function a(name: string, address: string, ttlS: number): Resource {
  return record(name, Packet.TYPE.A, { ttl: ttlS, address });
}

function ns(zone: Zone, server: NameServer): Resource {
  return record(zone.apex, Packet.TYPE.NS, { ttl: zone.ttlS, ns: server.name });
}

/**
 * The response to `request`. `addresses` are the A records for the service name, already in
 * the order to give (the caller rotates them so clients that take the first address spread).
 * - outside the zone: REFUSED, not authoritative;
 * - the service name, type A or ANY: the addresses, with the zone's TTL;
 * - the apex, SOA / NS / ANY: the SOA, the NS records (with their A records as glue);
 * - a name server's name, A: its address;
 * - an existing name, another type: NOERROR with no answers and the SOA in the authority
 *   section (RFC 2308 NODATA; NXDOMAIN here would make resolvers cache "no such name" for the
 *   A record too);
 * - any other name in the zone: NXDOMAIN with the SOA.
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
  const name = normalizeName(q.name);
  if (!inZone(name, zone.apex)) {
    response.header.aa = 0;
    response.header.rcode = RCODE.REFUSED;
    return response;
  }
  response.header.rcode = RCODE.NOERROR;
  const classOk = q.class === Packet.CLASS.IN || q.class === Packet.CLASS.ANY;
  const wants = (type: number): boolean => classOk && (q.type === type || q.type === Packet.TYPE.ANY);
  let exists = false;

  if (name === zone.service) {
    exists = true;
    if (wants(Packet.TYPE.A)) for (const address of addresses) response.answers.push(a(q.name, address, zone.ttlS));
  }
  if (name === zone.apex) {
    exists = true;
    if (wants(Packet.TYPE.SOA)) response.answers.push(soa(zone));
    if (wants(Packet.TYPE.NS)) {
      for (const s of zone.nameServers) {
        response.answers.push(ns(zone, s));
        response.additionals.push(a(s.name, s.address, zone.ttlS));
      }
    }
  }
  const server = zone.nameServers.find((s) => s.name === name);
  if (server !== undefined) {
    exists = true;
    if (wants(Packet.TYPE.A)) response.answers.push(a(q.name, server.address, zone.ttlS));
  }

  if (!exists) response.header.rcode = RCODE.NXDOMAIN;
  // Negative answers (NXDOMAIN, NODATA) carry the SOA so resolvers know how long to cache them.
  if (response.answers.length === 0) response.authorities.push(soa(zone));
  return response;
}

/** `list` rotated left by `offset` (a new array; `list` is not changed). */
export function rotate<T>(list: readonly T[], offset: number): T[] {
  const n = list.length;
  if (n === 0) return [];
  const k = ((offset % n) + n) % n;
  return [...list.slice(k), ...list.slice(0, k)];
}
