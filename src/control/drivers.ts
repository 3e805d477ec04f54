import type { ServiceKind } from '../config/index.js';
import { engineDrivers } from '../engines/index.js';
import type { ServiceDriver } from '../registry/index.js';
import { ourDrivers } from './our-drivers.js';

export function driverFor(kind: ServiceKind): ServiceDriver {
  switch (kind) {
    case 'app':
    case 'worker':
    case 'lb':
    case 'dns':
      return ourDrivers[kind];
    default:
      return engineDrivers[kind];
  }
}
