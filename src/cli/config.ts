import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  DEFAULT_CONFIG_FILE,
  formatProblem,
  isPresetName,
  parseConfig,
  preset,
  resolveTopology,
  validateConfigFile,
  type ConfigProblem,
  type Validation,
} from '../config/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { START_CHECKS } from './config-checks.js';
import { loadConfigSource, type ConfigOptions } from './config-source.js';
import { isJson, type OutputOptions } from './output.js';

/**
 * `hastack config validate`: every problem of the file at once (schema, cross-field rules, what
 * `up` and `deploy` check before starting), each with file, line and column. Returns the exit
 * code: 0 valid, 2 problems.
 */
export function configValidate(opts: ConfigOptions & OutputOptions): number {
  let v: Validation;
  let file: string;
  if (opts.preset !== undefined) {
    if (!isPresetName(opts.preset)) throw new ConfigError('--preset', `unknown preset "${opts.preset}"; use ideal or simple`);
    file = `preset ${opts.preset}`;
    v = { config: parseConfig(preset(opts.preset)), problems: [] };
  } else {
    file = opts.file ?? DEFAULT_CONFIG_FILE;
    if (opts.file === undefined && !fs.existsSync(file)) {
      throw new HastackError(ErrorCode.CONFIG_NOT_FOUND, `no ${file} here; name one with -f FILE, or write one with "hastack init"`);
    }
    v = validateConfigFile(file, { checks: START_CHECKS });
  }
  const ok = v.config !== undefined && v.problems.length === 0;
  if (isJson(opts)) {
    process.stdout.write(JSON.stringify({ file, valid: ok, problems: v.problems }, null, 2) + '\n');
  } else if (ok && v.config !== undefined) {
    const topo = resolveTopology(v.config, { stateRoot: '/', configDir: '/' });
    process.stdout.write(`${file}: valid (cluster "${v.config.cluster}", substrate ${v.config.substrate}, ${topo.nodes.length} nodes, ${topo.services.length} services)\n`);
  } else {
    process.stdout.write(problemLines(v.problems) + `\n${v.problems.length} problem${v.problems.length === 1 ? '' : 's'} in ${file}\n`);
  }
  return ok ? 0 : 2;
}

export function problemLines(ps: readonly ConfigProblem[]): string {
  return ps.map(formatProblem).join('\n');
}

/**
 * `hastack config show`: the config with every default filled in, and where each node's services
 * live (address and port, the local endpoints included).
 */
export function configShow(opts: ConfigOptions & OutputOptions): void {
  const src = loadConfigSource(opts);
  const topo = resolveTopology(src.config, { stateRoot: src.stateRoot, configDir: src.configDir });
  const placement = topo.nodes.map((n) => ({
    node: n.name,
    address: n.address,
    services: topo.services.filter((s) => s.node === n.name).map((s) => ({ service: s.kind, port: s.port, dir: s.dir })),
  }));
  if (isJson(opts)) {
    process.stdout.write(JSON.stringify({ origin: src.origin, stateDir: topo.stateDir, config: src.config, placement }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`# ${src.origin}, with every default filled in; state in ${topo.stateDir}\n`);
  process.stdout.write(YAML.stringify(src.config));
  process.stdout.write('\n# where each service lives\n');
  for (const p of placement) {
    process.stdout.write(`# ${p.node} (${p.address}): ${p.services.map((s) => `${s.service}:${s.port}`).join('  ')}\n`);
  }
  process.stdout.write(`# admin API and dashboard: http://${topo.admin.address}:${topo.admin.port}/  (app module: ${path.relative(process.cwd(), topo.appModule) || '.'})\n`);
}
