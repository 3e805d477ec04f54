import type { ServiceKind } from '../config/index.js';
import { SERVICES, kindsInStartOrder } from './kinds.js';

/** What a `role:<name>` chaos target means: a node running `service`, with `role` in its probe when set. */
export interface TargetRole {
  readonly service: ServiceKind;
  readonly role?: string;
}

/** Every chaos target role by name, from the descriptors' `chaosRoles`. */
export function targetRoles(): ReadonlyMap<string, TargetRole> {
  const out = new Map<string, TargetRole>();
  for (const kind of kindsInStartOrder()) {
    for (const r of SERVICES[kind].chaosRoles) out.set(r.name, { service: kind, ...(r.role !== undefined ? { role: r.role } : {}) });
  }
  return out;
}
