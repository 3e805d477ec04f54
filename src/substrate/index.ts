export { LocalSubstrate, processCommandLine, processStartTime } from './local.js';
export type { Substrate, RunningProcess, ExitInfo } from './types.js';
