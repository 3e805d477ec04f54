import { Packet, UDPClient } from 'dns2';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { RCODE } from './answer.js';

/** One of hastack's DNS servers. */
export interface DnsServerAddress {
  readonly address: string;
  readonly port: number;
}

export interface ServiceAnswer {
  /** A records, shuffled (see resolveService). */
  readonly addresses: string[];
  /** The smallest TTL among them, in seconds; 0 when there is none. */
  readonly ttlS: number;
}

/**
 * Fisher–Yates shuffle in place; `random` in [0, 1) is injectable for tests.
 */
export function shuffle<T>(list: T[], random: () => number = Math.random): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = list[i] as T;
    list[i] = list[j] as T;
    list[j] = t;
  }
  return list;
}

/**
 * Resolves `name` (type A) by asking each server in turn; a server that fails, times out
 * (`timeoutMs` each) or answers SERVFAIL/REFUSED moves on to the next. NXDOMAIN is an
 * authoritative "no such name" that every hastack DNS server would give alike, so it ends the
 * search at once with a NOT_FOUND error. When no server answers: UPSTREAM_UNAVAILABLE, naming
 * each server and why.
 * The addresses are shuffled: the servers rotate them too, but clients that cache one answer for
 * its TTL and start at its first address would otherwise move in step (all on the same load
 * balancer until the next answer).
 */
export async function resolveService(
  servers: readonly DnsServerAddress[],
  name: string,
  timeoutMs: number,
  random: () => number = Math.random,
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
      addresses: shuffle(
        a.map((r) => r.address as string),
        random,
      ),
      ttlS: a.length === 0 ? 0 : Math.min(...a.map((r) => r.ttl)),
    };
  }
  throw new HastackError(ErrorCode.UPSTREAM_UNAVAILABLE, `no DNS server answered for ${name}: ${failures.join(', ')}; is "dns" running on those nodes?`, {
    details: { name, failures },
  });
}
