import fs from 'node:fs';
import { Agent } from 'undici';
import { edgeTlsFiles, httpsPort, lbTlsLocal, servicesOf, type Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

/*
 * How the chaos workload reaches the load balancers: plain HTTP (the default), or HTTPS
 * (`hastack chaos run ... --https`, lb.tls) verifying the certificate against the cluster's own
 * CA (lb.tls local) or the system store (certificates from files or ACME), with the service name
 * as SNI and as the name checked, as a browser that resolved it would.
 */

export interface Edge {
  readonly scheme: 'http' | 'https';
  readonly port: number;
  /**
   * A new connection pool for one client: one keep-alive connection per load balancer (a client
   * makes one request at a time), whose state `reusable` reads.
   */
  agent(o: { connectTimeoutMs: number; keepAliveTimeoutMs: number }): Agent;
}

/**
 * Whether `agent` holds an open connection to `origin` (a URL's origin): a request made now goes
 * out on a connection that served an earlier answer. For the HTTP stack's resend (workload.ts).
 */
export function reusable(agent: Agent, origin: string): boolean {
  return Boolean(agent.stats[origin]?.connected);
}

export function edgeFor(topo: Topology, https: boolean): Edge {
  const plainPort = servicesOf(topo, 'lb')[0]?.port ?? 8080;
  if (!https)
    return { scheme: 'http', port: plainPort, agent: (o) => new Agent({ connect: { timeout: o.connectTimeoutMs }, keepAliveTimeout: o.keepAliveTimeoutMs, connections: 1 }) };
  if (topo.config.lb.tls === undefined) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `--https: cluster ${topo.cluster} has no lb.tls in its hastack.yaml; add "lb: {tls: {local: true}}" (or certificates) and run "hastack up" again`,
    );
  }
  const ca = lbTlsLocal(topo.config) ? fs.readFileSync(edgeTlsFiles(topo).ca, 'utf8') : undefined;
  const servername = topo.config.serviceName;
  return {
    scheme: 'https',
    port: httpsPort(topo.config),
    agent: (o) =>
      new Agent({
        connect: { timeout: o.connectTimeoutMs, servername, rejectUnauthorized: true, ...(ca !== undefined ? { ca } : {}) },
        keepAliveTimeout: o.keepAliveTimeoutMs,
        connections: 1,
      }),
  };
}
