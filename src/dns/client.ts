import { randomBytes } from 'node:crypto';
import { Packet, UDPClient } from 'dns2';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { RCODE } from './answer.js';

/** One of hastack's DNS servers. */
export interface DnsServerAddress {
  readonly address: string;
  readonly port: number;
}

export interface ServiceAnswer {
  /** A records, in this process's random order (see stableShuffle). */
  readonly addresses: string[];
  /** The smallest TTL among them, in seconds; 0 when there is none. */
  readonly ttlS: number;
}

/**
 * A random order of the addresses that stays the same for this process: each address is ranked
 * by a hash of itself and a per-process random salt. Why not a fresh shuffle per answer: clients
 * walk the answer round robin and, after a failure, move to the next address; if every answer
 * came in a new order, "the next address" could be the dead one again, several times in a row
 * (measured: 4 failed reads in one `chaos run lb` with a fresh shuffle, 0 with this). Different
 * processes still get different orders, which is the point: they do not all start on the same
 * load balancer.
 */
export function stableShuffle(addresses: readonly string[], salt: number = PROCESS_SALT): string[] {
  return [...addresses]
    .map((a) => ({ a, k: fnv1a(a, salt) }))
    .sort((x, y) => x.k - y.k || (x.a < y.a ? -1 : 1))
    .map((x) => x.a);
}

/**
 * 32-bit FNV-1a of `text` seeded with `salt`, then murmur3's finaliser: addresses that differ only
 * in their last digit must still land in unrelated places, or every salt would give the same few
 * orders.
 */
function fnv1a(text: string, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const PROCESS_SALT = randomBytes(4).readUInt32LE(0);

/**
 * Resolves `name` (type A) by asking each server in turn; a server that fails, times out
 * (`timeoutMs` each) or answers SERVFAIL/REFUSED moves on to the next. NXDOMAIN is an
 * authoritative "no such name" that every hastack DNS server would give alike, so it ends the
 * search at once with a NOT_FOUND error. When no server answers: UPSTREAM_UNAVAILABLE, naming
 * each server and why.
 * The addresses are shuffled (`stableShuffle`: one random order per process): the servers rotate
 * them, but clients that cache one answer for its TTL and start at its first address would
 * otherwise move in step (all on the same load balancer until the next answer).
 */
export async function resolveService(
  servers: readonly DnsServerAddress[],
  name: string,
  timeoutMs: number,
  order: (addresses: readonly string[]) => string[] = stableShuffle,
): Promise<ServiceAnswer> {
  if (servers.length === 0) {
    throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `cannot resolve ${name}: no DNS server given; is any node running "dns"?`);
  }
  const failures: string[] = [];
  for (const s of servers) {
    let response: Packet;
    try {
      // retryOverTCP: answers are a handful of A records and never truncated, but if they ever
      // are, a complete answer over TCP beats a truncated one.
      response = await UDPClient({ dns: s.address, port: s.port, timeout: timeoutMs, retryOverTCP: true })(name, 'A');
    } catch (e) {
      failures.push(`${s.address}:${s.port} (${describeError(e)})`);
      continue;
    }
    const rcode = response.header.rcode;
    if (rcode === RCODE.NXDOMAIN) {
      throw new HastackError(ErrorCode.NOT_FOUND, `${name} does not exist according to the DNS server at ${s.address}:${s.port}; check serviceName in hastack.yaml`, {
        details: { server: `${s.address}:${s.port}`, name },
      });
    }
    if (rcode !== RCODE.NOERROR) {
      failures.push(`${s.address}:${s.port} (rcode ${rcode})`);
      continue;
    }
    const a = response.answers.filter((r) => r.type === Packet.TYPE.A && typeof r.address === 'string');
    return {
      addresses: order(a.map((r) => r.address as string)),
      ttlS: a.length === 0 ? 0 : Math.min(...a.map((r) => r.ttl)),
    };
  }
  throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `no DNS server answered for ${name}: ${failures.join(', ')}; is "dns" running on those nodes?`, {
    details: { name, failures },
  });
}
