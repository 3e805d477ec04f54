import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { didYouMean, servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import { stopPlan } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeJsonAtomic } from '../shared/files.js';

/**
 * Per-service control by the operator (issue 25): `hastack stop|start|restart NODE[/SERVICE]`
 * and `hastack drain NODE [--undo]`. Pure parsing and planning here (unit-tested without
 * engines); the supervisor carries the plan out (supervisor.ts `stopServices`, `startServices`,
 * `drainNode`), reached through the admin API's `POST /v1/services` like a chaos fault.
 */

export const SERVICE_ACTIONS = ['stop', 'start', 'restart'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

/** The body of `POST /v1/services`: service ids (`node/kind`) already resolved by the CLI. */
export const serviceControlSchema = z.discriminatedUnion('action', [
  z.object({ action: z.enum(SERVICE_ACTIONS), services: z.array(z.string().min(1)).min(1) }).strict(),
  z.object({ action: z.literal('drain'), node: z.string().min(1), undo: z.boolean().default(false) }).strict(),
]);
export type ServiceControlRequest = z.input<typeof serviceControlSchema>;

export interface Target {
  readonly node: string;
  readonly service?: string;
}

/** `app1` or `db2/mariadb`; anything else is a usage error (exit 2). */
export function parseTarget(text: string): Target {
  const parts = text.split('/');
  const [node, service] = parts;
  if (parts.length > 2 || node === undefined || node === '' || service === '') {
    throw new HastackError(ErrorCode.USAGE, `"${text}" is not NODE or NODE/SERVICE (for example app1, or db2/mariadb)`);
  }
  return service === undefined ? { node } : { node, service };
}

function unknown(what: string, word: string, known: readonly string[], where: string): HastackError {
  const guess = didYouMean(word, known);
  return new HastackError(ErrorCode.USAGE, `no ${what} "${word}" ${where}${guess ? ` (did you mean "${guess}"?)` : ''}; there are: ${known.join(', ')}`);
}

/** The services a target names, in stop order (a whole node: every service of it). */
export function resolveTarget(topo: Topology, target: Target): ServiceInstance[] {
  const nodes = topo.nodes.map((n) => n.name);
  if (!nodes.includes(target.node)) throw unknown('node', target.node, nodes, `in cluster ${topo.cluster}`);
  const onNode = stopPlan(topo)
    .flat()
    .filter((s) => s.node === target.node);
  if (target.service === undefined) return onNode;
  const svc = onNode.find((s) => s.kind === target.service);
  if (!svc)
    throw unknown(
      'service',
      target.service,
      onNode.map((s) => s.kind),
      `on node ${target.node}`,
    );
  return [svc];
}

/** The app server `drain NODE` takes out of the load balancers' rotation. */
export function drainTarget(topo: Topology, node: string): ServiceInstance {
  resolveTarget(topo, { node });
  const app = servicesOf(topo, 'app').find((s) => s.node === node);
  if (!app) {
    const apps = servicesOf(topo, 'app').map((s) => s.node);
    throw new HastackError(ErrorCode.USAGE, `node ${node} runs no app server, so there is nothing to drain; nodes with one: ${apps.join(', ') || 'none'}`);
  }
  return app;
}

/** Start order is the stop order reversed (databases before the app servers that need them). */
export function startOrder(services: readonly ServiceInstance[]): ServiceInstance[] {
  return [...services].reverse();
}

/** One line per step, for `--dry-run` and the command's own output. */
export function describeServicePlan(action: ServiceAction, services: readonly ServiceInstance[]): string[] {
  const ids = services.map((s) => s.id);
  switch (action) {
    case 'stop':
      return ids.map((id) => `stop ${id} (SIGTERM, then SIGKILL after its grace); the supervisor leaves it stopped until "start"`);
    case 'start':
      return startOrder(services).map((s) => `start ${s.id} on ${s.address}:${s.port} and wait until it is healthy`);
    case 'restart':
      return [...describeServicePlan('stop', services), ...describeServicePlan('start', services)];
  }
}

export function describeDrain(app: ServiceInstance, undo: boolean): string {
  return undo
    ? `undrain ${app.id}: /readyz answers 200 again, the load balancers send it requests after lb.rise good probes`
    : `drain ${app.id}: /readyz answers 503, the load balancers send it no new requests, requests in flight finish`;
}

/** `operator.json` in the state directory: the services the operator stopped (status shows them). */
interface OperatorState {
  readonly stopped: readonly string[];
}

function operatorFile(stateDir: string): string {
  return path.join(stateDir, 'operator.json');
}

export function readOperatorStopped(stateDir: string): ReadonlySet<string> {
  try {
    const o = JSON.parse(fs.readFileSync(operatorFile(stateDir), 'utf8')) as Partial<OperatorState>;
    return new Set(Array.isArray(o.stopped) ? o.stopped.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    return new Set();
  }
}

export function writeOperatorStopped(stateDir: string, stopped: ReadonlySet<string>): void {
  const state: OperatorState = { stopped: [...stopped].sort() };
  writeJsonAtomic(operatorFile(stateDir), state);
}
