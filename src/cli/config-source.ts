import fs from 'node:fs';
import path from 'node:path';
import {
  ConfigProblemsError,
  DEFAULT_APP_MODULE,
  DEFAULT_CONFIG_FILE,
  isPresetName,
  loadConfigFile,
  parseConfig,
  preset,
  readTopology,
  type Config,
  type ConfigCheck,
  type PresetName,
  type Topology,
} from '../config/index.js';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { packageRoot } from '../shared/module-path.js';

export interface ConfigOptions {
  readonly file?: string;
  readonly preset?: string;
  readonly stateRoot?: string;
}

export interface ConfigSource {
  readonly config: Config;
  readonly configDir: string;
  readonly stateRoot: string;
  /** Where the config came from, for messages: a file path or `preset ideal`. */
  readonly origin: string;
}

/**
 * A preset as run from the current directory. Its app is the example ERP, `examples/erp`, which is
 * beside the files only in the checkout: elsewhere it is the package's own copy.
 */
function presetConfig(name: PresetName): Config {
  const input = preset(name);
  const beside = path.resolve(DEFAULT_APP_MODULE);
  if (input.app?.module !== undefined || input.app?.command !== undefined || fs.existsSync(beside)) return parseConfig(input);
  return parseConfig({ ...input, app: { ...input.app, module: path.join(packageRoot(), DEFAULT_APP_MODULE) } });
}

/**
 * `--preset` wins, then `--file`, then ./hastack.yaml if present, else the `ideal` preset. A file
 * with problems throws all of them at once (exit 2); `checks` add those of the layers above
 * (`up`, `deploy` and `config validate` pass START_CHECKS, config-checks.ts).
 */
export function loadConfigSource(opts: ConfigOptions, checks: readonly ConfigCheck[] = []): ConfigSource {
  let config: Config;
  let configDir: string;
  let origin: string;
  if (opts.preset !== undefined) {
    if (!isPresetName(opts.preset)) throw new ConfigError('--preset', `unknown preset "${opts.preset}"; use ideal or simple`);
    config = presetConfig(opts.preset);
    configDir = process.cwd();
    origin = `preset ${opts.preset}`;
  } else {
    const file = opts.file ?? DEFAULT_CONFIG_FILE;
    if (opts.file !== undefined || fs.existsSync(file)) {
      config = loadConfigFile(file, { checks });
      configDir = path.dirname(path.resolve(file));
      origin = file;
    } else {
      config = presetConfig('ideal');
      configDir = process.cwd();
      origin = 'preset ideal (no hastack.yaml here)';
    }
  }
  if (origin.startsWith('preset')) {
    // No file to point into: the problems name the preset.
    const errors = checks.flatMap((check) => check(config, { configDir }));
    if (errors.length > 0) throw new ConfigProblemsError(errors.map((e) => ({ file: origin, key: e.key, message: e.message.slice(e.key.length + 2) })));
  }
  const stateRoot = path.resolve(opts.stateRoot ?? process.env.HASTACK_STATE_ROOT ?? path.join(configDir, '.hastack'));
  return { config, configDir, stateRoot, origin };
}

/** The topology of a cluster `up` has prepared (what is, or was last, running). */
export function loadRunningTopology(opts: ConfigOptions): Topology {
  const src = loadConfigSource(opts);
  // throws CLUSTER_NOT_RUNNING, with the "run hastack up" advice, when up never ran here
  const topo = readTopology(path.join(src.stateRoot, src.config.cluster));
  // Both presets name their cluster "hastack": `--preset simple` must not quietly show an ideal one.
  if (opts.preset !== undefined && topo.config.preset !== opts.preset) {
    throw new HastackError(
      ErrorCode.USAGE,
      `the cluster "${topo.cluster}" on record in ${topo.stateDir} was started from ${topo.config.preset === 'custom' ? 'a file' : `preset ${topo.config.preset}`}, not preset ${opts.preset}; leave out --preset (or name that file with -f)`,
    );
  }
  return topo;
}
