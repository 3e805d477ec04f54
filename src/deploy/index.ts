/** The public API of src/deploy/: what other folders import from it. */

// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").
export { deploy } from './deploy.js';
export type { DeployResult } from './deploy.js';
export { hostSteps } from './report.js';
export type { HostReport, HostStep } from './report.js';
