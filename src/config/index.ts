export { SERVICE_KINDS, DEFAULT_PORTS, configSchema, demoDataOn, httpsPort, lbTlsLocal, HSTS_DEFAULT_MAX_AGE_S } from './schema.js';
export type { ServiceKind, Config, ConfigInput, NodeConfig, LbTlsConfig } from './schema.js';
export { PRESET_NAMES, preset, isPresetName } from './presets.js';
export type { PresetName } from './presets.js';
export { parseConfig, parseConfigYaml, loadConfigFile, renderConfigYaml, formatKey, DEFAULT_CONFIG_FILE, configDirOf } from './load.js';
export { resolveTopology, servicesOf, findService, nodeAddress, controllerNode, hostStateDir, installedPackage, remoteTopology } from './topology.js';
export type { Topology, ServiceInstance, NodeInstance } from './topology.js';
export {
  loadOrCreateSecrets,
  readSecrets,
  readSecretsFile,
  heldSecrets,
  requireAllSecrets,
  writeSecrets,
  secretsFile,
  secretsSubset,
  fingerprintSecrets,
  generateSecret,
  generateSecrets,
  withAddedSecrets,
  ENGINE_SECRETS,
  refreshSecretsInPlace,
  isSecretName,
  SECRET_NAMES,
} from './secrets.js';
export type { Secrets, SecretName } from './secrets.js';
export { writeTopology, readTopology, topologyFile } from './runtime.js';
export { substrateTraits } from './substrate.js';
export type { SubstrateName, SubstrateTraits, ServiceReach } from './substrate.js';
