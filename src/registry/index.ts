/**
 * The service registry: what every runner (the local supervisor, the hosts agents, deploy, chaos)
 * needs to know about a service without importing the engines. It sits below engines and tiers
 * and imports only config and shared.
 */
export type { ProcessSpec, ServiceContext, ProbeResult, ServiceDriver } from './contract.js';
