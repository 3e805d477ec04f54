/**
 * The service registry: what every runner (the local supervisor, the hosts agents, deploy, chaos,
 * doctor) needs to know about a service kind without loading its engine. It sits below engines
 * and tiers and imports only config and shared. The drivers that implement the contract are
 * attached above it, in src/drivers.
 */
export type { ProcessSpec, ServiceContext, ProbeResult, ServiceDriver } from './contract.js';
export type { ServiceDescriptor, ProgramNeed, ClusterStep, Leader, StartGrouping, ChaosRole, ConfigSection } from './descriptor.js';
export { SERVICES, descriptorOf, isOwnKind, isEngineKind, kindsInStartOrder } from './kinds.js';
export type { OwnKind, EngineKind } from './kinds.js';
export { startPlan, stopPlan, stopOrder, stopGraceMs } from './plan.js';
export type { StartStep } from './plan.js';
export { secretsOf, secretNeeds } from './secrets.js';
export { targetRoles } from './roles.js';
export type { TargetRole } from './roles.js';
export { SUBSTRATE_TOOLS, TEST_ONLY_TOOLS, HOST_FIREWALL_PACKAGE } from './programs.js';
export type { EngineBinary, SubstrateName } from './programs.js';
export { enginePrograms, machinePrograms, testSuitePrograms, hostPrograms } from './needs.js';
