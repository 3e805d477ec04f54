import { servicesOf } from '../config/index.js';
import type { ServiceContext } from '../registry/index.js';

/**
 * How long an app server keeps serving after its readiness turns 503, before it stops: until
 * every load balancer has probed it and stopped sending (lb.healthIntervalMs × lb.fall +
 * lb.healthTimeoutMs, 2.5 s with defaults); 0 without load balancers. Module apps (host.ts) and
 * command apps (command.ts) alike.
 */
export function defaultDrainDelay(ctx: ServiceContext): number {
  if (servicesOf(ctx.topo, 'lb').length === 0) return 0;
  const lb = ctx.topo.config.lb;
  return lb.healthIntervalMs * lb.fall + lb.healthTimeoutMs;
}
