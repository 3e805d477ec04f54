import type { Redis } from 'ioredis';
// ioredis exposes no option for this. Its package has no exports map, so the deep path loads; if a
// release moves it, test/integration/redis-failover.side.test.ts fails on the noise.
import connectorModule from 'ioredis/built/connectors/SentinelConnector/index.js';

/** The private method every Sentinel client of ioredis is made by (ioredis 5.x). */
type ConnectToSentinel = (this: unknown, endpoint: unknown, options?: unknown) => Redis;
interface ConnectorPrototype {
  connectToSentinel?: ConnectToSentinel;
  hastackQuiet?: true;
}

/**
 * Gives every Sentinel client ioredis makes an error listener.
 *
 * ioredis's failover detector (`failoverDetector: true`, see options.ts) opens a client to each
 * Sentinel and subscribes to `+switch-master`, but attaches no error listener to it (its
 * `resolve` clients get a no-op one). A Sentinel that refuses, drops or times out a connection
 * then made ioredis print "[ioredis] Unhandled error event" and a stack to stderr, once per client
 * and per BullMQ connection of the process: a page of alarming lines in every app and worker log
 * during an incident, about a Sentinel the status already reports down (ioredis issue #1600).
 * Nothing acts on these errors: the detector tries that Sentinel again a minute later (ioredis's
 * `sentinelReconnectStrategy`), the other Sentinels still report `+switch-master`, and the master
 * connection's own errors are logged by the handle. So they are dropped here, as ioredis drops
 * its `resolve` clients' errors.
 *
 * Idempotent; a no-op if a later ioredis no longer has the method.
 */
export function quietSentinelClients(): void {
  const proto = (connectorModule as unknown as { default: { prototype: ConnectorPrototype } }).default.prototype;
  const original = proto.connectToSentinel;
  if (typeof original !== 'function' || proto.hastackQuiet) return;
  proto.connectToSentinel = function (this: unknown, endpoint: unknown, options?: unknown): Redis {
    const client = original.call(this, endpoint, options);
    client.on('error', () => undefined);
    return client;
  };
  proto.hastackQuiet = true;
}
