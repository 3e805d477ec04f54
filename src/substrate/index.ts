export { LocalSubstrate, processCommandLine, processStartTime } from './local.js';
export { NetnsSubstrate, netnsNames } from './netns.js';
export { substrateFor } from './choose.js';
export { HOST, partitionLinks, isolateLinks, cutLinks, mergeLinks } from './links.js';
export type { Link } from './links.js';
export type { Substrate, RunningProcess, ExitInfo, NetworkFaults } from './types.js';
export { faultRequestSchema } from './runtime.js';
export type { Runtime, RuntimeCapabilities, RuntimeUpOptions, RuntimeDownOptions, RuntimeDownResult, FaultRequest, ClusterStatus, ServiceStatus, LogTail } from './runtime.js';
