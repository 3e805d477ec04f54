import { pathToFileURL } from 'node:url';
import type { Topology } from '../config/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { isAppDefinition, type AppDefinition } from './contract.js';
import { packageRoot, resolveAppModulePath } from '../shared/module-path.js';

/** Imports the app module and checks that its default export was made by `defineApp`. */
export async function loadAppModule(modulePath: string): Promise<AppDefinition> {
  const file = resolveAppModulePath(modulePath, packageRoot());
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (e) {
    throw new HastackError(ErrorCode.APP_INVALID, `app module ${file} failed to load: ${describeError(e)}`, { cause: e });
  }
  if (!isAppDefinition(mod.default)) {
    throw new HastackError(ErrorCode.APP_INVALID, `app module ${file} must default-export defineApp({ ... }) from hastack's app contract`);
  }
  return mod.default;
}

/** The cluster's app (`topo.appModule`). */
export function loadApp(topo: Topology): Promise<AppDefinition> {
  return loadAppModule(topo.appModule);
}
