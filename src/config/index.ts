export {
  SERVICE_KINDS,
  PLACED_KINDS,
  ENDPOINT_KINDS,
  DEFAULT_PORTS,
  configSchema,
  demoDataOn,
  endpointsOn,
  isCommandApp,
  appHealthPath,
  appReadyPath,
  appReadiness,
  stopsMainFirst,
  READY_PATH,
  commandReadyPort,
  httpsPort,
  lbTlsLocal,
  vipIntervalMs,
  vrrpVersion,
  HSTS_DEFAULT_MAX_AGE_S,
} from './schema.js';
export { CONTRACT_ENV_NAMES, DEFAULT_APP_MODULE } from './app-schema.js';
export type { ContractEnvName, AppConfig, WorkerConfig, VerifyConfig } from './app-schema.js';
export type { ServiceKind, EndpointKind, Config, ConfigInput, NodeConfig, LbTlsConfig } from './schema.js';
export { PRESET_NAMES, preset, isPresetName } from './presets.js';
export type { PresetName } from './presets.js';
export { parseConfig, parseConfigYaml, crossFieldProblems, renderConfigYaml, formatKey, DEFAULT_CONFIG_FILE, configDirOf } from './load.js';
export { loadConfigFile, validateConfigFile, validateConfigText, formatProblem, ConfigProblemsError, didYouMean, schemaAt, unwrap, parseKey } from './validate.js';
export type { ConfigProblem, ConfigCheck, Validation } from './validate.js';
export {
  resolveTopology,
  servicesOf,
  archiveNodeOf,
  findService,
  nodeAddress,
  controllerNode,
  controllerNodes,
  replicaDelayS,
  appDbServices,
  hostStateDir,
  tlsDir,
  edgeTlsFiles,
  shippedCertificateFiles,
  shippedCertificateDir,
  shippedAcmeCaFile,
  hostAppDir,
  installedPackage,
  remoteTopology,
} from './topology.js';
export type { EdgeTlsFiles } from './topology.js';
export type { Topology, ServiceInstance, NodeInstance } from './topology.js';
export { drainMarkerFile, isDrainedByOperator } from './operator-marks.js';
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
export { appEnvironment, serviceEnvironment, maskAppEnvironment, DB_APP_USER, MASK } from './app-env.js';
export type { AppEnvironment, AppProcess } from './app-env.js';
export { configJsonSchema, explainKey, defaultOf } from './json-schema.js';
export type { JsonSchema, KeyDocs } from './json-schema.js';
