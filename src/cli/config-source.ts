import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONFIG_FILE, isPresetName, loadConfigFile, parseConfig, preset, readTopology, type Config, type Topology } from '../config/index.js';
import { ConfigError } from '../shared/errors.js';

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

/** `--preset` wins, then `--file`, then ./hastack.yaml if present, else the `ideal` preset. */
export function loadConfigSource(opts: ConfigOptions): ConfigSource {
  let config: Config;
  let configDir: string;
  let origin: string;
  if (opts.preset !== undefined) {
    if (!isPresetName(opts.preset)) throw new ConfigError('--preset', `unknown preset "${opts.preset}"; use ideal or simple`);
    config = parseConfig(preset(opts.preset));
    configDir = process.cwd();
    origin = `preset ${opts.preset}`;
  } else {
    const file = opts.file ?? DEFAULT_CONFIG_FILE;
    if (opts.file !== undefined || fs.existsSync(file)) {
      config = loadConfigFile(file);
      configDir = path.dirname(path.resolve(file));
      origin = file;
    } else {
      config = parseConfig(preset('ideal'));
      configDir = process.cwd();
      origin = 'preset ideal (no hastack.yaml here)';
    }
  }
  const stateRoot = path.resolve(opts.stateRoot ?? process.env.HASTACK_STATE_ROOT ?? path.join(configDir, '.hastack'));
  return { config, configDir, stateRoot, origin };
}

/** The topology of a cluster `up` has prepared (what is, or was last, running). */
export function loadRunningTopology(opts: ConfigOptions): Topology {
  const src = loadConfigSource(opts);
  // throws CLUSTER_NOT_RUNNING, with the "run hastack up" advice, when up never ran here
  return readTopology(path.join(src.stateRoot, src.config.cluster));
}
