import path from 'node:path';
import { packageRoot, resolveAppModulePath } from '../shared/module-path.js';
import { DEFAULT_APP_MODULE, type Config, type ConfigCheck } from '../config/index.js';
import { parseSchedule } from '../failover/index.js';
import { ConfigError, HastackError } from '../shared/errors.js';

/*
 * The checks of a config file that belong to layers above src/config, run by `config validate`,
 * `up` and `deploy` before anything starts (src/config/validate.ts runs them after its own).
 */

/** `backup.schedule`: the cron fields' ranges (the schema checks only the shape). */
const backupSchedule: ConfigCheck = (c) => {
  if (c.backup.schedule === undefined) return [];
  try {
    parseSchedule(c.backup.schedule);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [e];
    throw e;
  }
};

/**
 * The app module exists and is runnable, as migrate and the app servers will look for it: else
 * the databases start and the first migrate step fails. On hosts a relative path is inside the
 * installed package, which deploy ships from this one.
 */
const appModule: ConfigCheck = (c: Config, ctx) => {
  if (c.app.command !== undefined) return [];
  const given = c.app.module ?? DEFAULT_APP_MODULE;
  const root = packageRoot();
  const abs = path.resolve(c.substrate === 'hosts' ? root : ctx.configDir, given);
  try {
    resolveAppModulePath(abs, root);
    return [];
  } catch (e) {
    if (!(e instanceof HastackError)) throw e;
    const why = e.message.replace(/^app module \S+: /, '');
    const unset = c.app.module === undefined || c.app.module === DEFAULT_APP_MODULE ? ` (the example ERP, ${path.join(root, DEFAULT_APP_MODULE)}, is in the hastack package)` : '';
    return [new ConfigError('app.module', `${given} (${abs}) ${why}${unset}; or set app.command to run any HTTP server`)];
  }
};

/** What `up` and `deploy` check beyond the schema and the cross-field rules. */
export const START_CHECKS: readonly ConfigCheck[] = [backupSchedule, appModule];
