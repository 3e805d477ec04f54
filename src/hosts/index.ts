/** The public API of src/hosts/: what other folders import from it. */

// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").
export type { AgentEnv } from './agent-env.js';
export type { AgentPlan, AgentStatus, DeployBundle } from './agent-types.js';
export type { SshOptions } from './ssh.js';
export { HostError, parseSshTarget, shq, SshHost, tarDirectory } from './ssh.js';
export { HostsRuntime } from './runtime.js';
export { agentApply, agentPlan } from './install.js';
export { agentFirewall, agentNodeDown, agentNodeUp, agentPrepare, agentProbe, agentRecordRole, agentRestart, agentStart, agentStatus, agentStop, agentWire } from './agent.js';
export { agentPlanSchema, agentStatusSchema, deployBundleSchema, nodeUpResultSchema, probeResultSchema } from './agent-types.js';
export { backupNodesOf, serviceUnitName, unitsForNode } from './units.js';
export { closeSessions, HostSession, openSessions } from './session.js';
export { controllerTopology, installControllerKey } from './controller-key.js';
export { backupMachine, installBackupKey } from './backup-key.js';
export { authorizeSshTargets, type TargetAuthorization } from './backup-target-auth.js';
export { runBackupGate } from './backup-gate.js';
export { fillPlaceholders, renderCheckScript, renderKeepalivedConf, resolveInterface } from './keepalived.js';
export { guardedPorts } from './firewall.js';
export { parseGatedCommand } from './agent-gate.js';
export { sentinelsReadyOnHosts } from './redis-admin.js';
export { serviceUser } from './service-users.js';
export { galeraOnHosts } from './galera-hosts.js';
export type { GaleraOnHostsOutcome } from './galera-hosts.js';
export { agentGalera, parseGaleraRequest } from './galera-agent.js';
export { hostsRestoreMachines } from './restore-hosts.js';
