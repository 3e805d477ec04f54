export { LocalSubstrate, processCommandLine, processStartTime } from './local.js';
export { NetnsSubstrate, netnsNames } from './netns.js';
export { HOST, partitionLinks, isolateLinks, cutLinks, mergeLinks } from './links.js';
export type { Link } from './links.js';
export type { Substrate, RunningProcess, ExitInfo, NetworkFaults } from './types.js';
