/** The public API of src/audit/: what other folders import from it. */

// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").
export type { Finding } from './findings.js';
export type { HostFacts } from './facts.js';
export { AuditCode, auditExitCode, finding, formatFindings } from './findings.js';
export { auditLocal } from './local.js';
export { checkHostFacts, checkStores } from './checks.js';
export { hostFactsSchema } from './facts.js';
export { probeAdminApi } from './probes.js';
export { probeStores, processFacts, readDbAccounts, scanStateDir, scopeOf, secretValues, thisMachineIsNode } from './gather.js';
