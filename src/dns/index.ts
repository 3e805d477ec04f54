/**
 * The DNS tier: answers A queries for the cluster's service name with the load balancers it sees
 * healthy (probing each one's `/-/healthz` every second), TTL `dns.ttlS`; authoritative for the
 * service name's parent zone (SOA, NS with glue, NXDOMAIN for other names in it), REFUSED for
 * names outside it (answer.ts). UDP and TCP on the dns service's address and port (5353).
 * `resolveService` is the matching client: asks each server in turn, shuffles the answer.
 */
import { Packet, type DnsHandler } from 'dns2';
import { servicesOf } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { closeAll, once, type Closeable } from '../shared/lifecycle.js';
import { createLogger } from '../shared/log.js';
import { answerQuery, makeZone, RCODE, rotate } from './answer.js';
import { serveDns } from './server.js';
import { LbWatcher } from './watch.js';

export { resolveService } from './client.js';
export type { DnsServerAddress, ServiceAnswer } from './client.js';
export { LB_HEALTH_PATH } from './watch.js';

export async function startDns(ctx: ServiceContext): Promise<Closeable> {
  const log = createLogger('dns', { service: ctx.svc.id });
  const { config } = ctx.topo;
  const lbs = servicesOf(ctx.topo, 'lb');
  if (lbs.length === 0) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `dns ${ctx.svc.id}: the topology has no load balancer to hand out; add "lb" to a node`);
  }
  // Every hastack DNS server of the topology is a name server of the zone, in topology order.
  const dnsAddresses = servicesOf(ctx.topo, 'dns').map((d) => d.address);
  const zone = makeZone(config.serviceName, config.dns.ttlS, dnsAddresses, Math.floor(Date.now() / 1000));
  const watcher = new LbWatcher(lbs, (lb, healthy, detail) =>
    log.info({ lb: lb.id, healthy, detail }, `load balancer ${lb.id} ${healthy ? 'is back in' : 'left'} the answers for ${zone.service} (${detail})`),
  );

  // Rotating the answer by one per query spreads clients that always take the first address.
  let rotation = 0;
  const handle: DnsHandler = (request, send) => {
    let response: Packet;
    try {
      rotation = (rotation + 1) % 1_000_000_007;
      response = answerQuery(request, zone, rotate(watcher.addresses(), rotation));
    } catch (e) {
      // A bug or a packet dns2 parsed into something odd: SERVFAIL makes the client ask the
      // next server instead of waiting for its timeout.
      log.error({ err: describeError(e) }, 'answering a DNS query failed');
      response = Packet.createResponseFromRequest(request);
      response.header.rcode = RCODE.SERVFAIL;
    }
    send(response).catch((e: unknown) => log.debug({ err: describeError(e) }, 'sending a DNS answer failed'));
  };

  watcher.start();
  let server: Closeable;
  try {
    server = await serveDns(ctx.svc.address, ctx.svc.port, handle, log);
  } catch (e) {
    await watcher.stop();
    throw e;
  }
  log.info(
    { address: ctx.svc.address, port: ctx.svc.port, name: zone.service, zone: zone.apex, lbs: lbs.map((l) => l.id) },
    `DNS answering ${zone.service} on ${ctx.svc.address}:${ctx.svc.port} (udp, tcp)`,
  );
  return { close: once(() => closeAll([() => server.close(), () => watcher.stop()])) };
}
