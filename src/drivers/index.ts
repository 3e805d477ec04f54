/**
 * The driver of every service kind, attached to the registry's kinds here: above the engines and
 * our own tiers (it loads both), below every runner (control's supervisor, the hosts agent,
 * failover, deploy). The Record makes a kind without a driver a compile error.
 */
import type { ServiceKind } from '../config/index.js';
import { engineDrivers } from '../engines/index.js';
import type { ServiceDriver } from '../registry/index.js';
import { ourDrivers } from './our-drivers.js';

export const DRIVERS: Readonly<Record<ServiceKind, ServiceDriver>> = { ...engineDrivers, ...ourDrivers };

export function driverFor(kind: ServiceKind): ServiceDriver {
  return DRIVERS[kind];
}

export { CLI_BUNDLE, CLI_MAIN } from './our-drivers.js';
