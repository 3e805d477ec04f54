/**
 * A bed for the local endpoints (src/endpoints): the config's MariaDB, Redis and Sentinel nodes
 * started through their engine drivers by the kit's harness, then every endpoint service the
 * topology places, run as `hastack _service KIND` exactly as the supervisor runs it (topology.json
 * and secrets.json written first) and waited on through its driver's probe. For
 * test/integration/endpoints.test.ts and bench/endpoints.ts. `stop()` kills every process it
 * started by process group and removes the state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ENDPOINT_KINDS, servicesOf, writeTopology, type ConfigInput, type EndpointKind, type ServiceInstance } from '../src/config/index.js';
import { driverFor } from '../src/drivers/index.js';
import { mariadbStartOrder, waitSentinelsReady } from '../src/engines/index.js';
import { waitFor } from '../src/shared/retry.js';
import type { TestId } from './addresses.js';
import { assertFree, engineBed, EngineHarness, type EngineBed } from './engines.js';

export interface EndpointBed extends EngineBed {
  readonly engines: EngineHarness;
  /** The `kind` endpoint of `node`. */
  endpoint(node: string, kind: EndpointKind): ServiceInstance;
  /** Starts (or restarts) one endpoint process and waits until its probe says healthy. */
  startEndpoint(svc: ServiceInstance): Promise<void>;
  stop(): Promise<void>;
}

export async function startEndpointBed(id: TestId, config: ConfigInput, timings: string[] = []): Promise<EndpointBed> {
  const bed = engineBed(id, config);
  const { topo } = bed;
  const engines = new EngineHarness();
  const stop = async (): Promise<void> => {
    await engines.stopAll();
    if (process.env.HASTACK_KEEP_TEST_STATE === '1') console.log(`# state kept in ${bed.stateRoot}`);
    else fs.rmSync(bed.stateRoot, { recursive: true, force: true });
  };
  const t0 = Date.now();
  const startEndpoint = async (svc: ServiceInstance): Promise<void> => {
    const driver = driverFor(svc.kind);
    const ctx = { topo, secrets: bed.secrets, svc, asRoot: bed.asRoot };
    await driver.prepare(ctx);
    const spec = driver.command(ctx);
    const started = engines.spawn(svc.id, spec.command, spec.args, { logFile: path.join(svc.dir, 'service.log'), env: { HASTACK_LOG_LEVEL: 'info' } });
    // 30 s: an endpoint is healthy within a probe round (~0.3 s) of HAProxy's start (~20 ms).
    const ok = await waitFor(async () => (started.exitCode !== undefined ? 'exited' : (await driver.probe(ctx, 1000)).healthy ? 'healthy' : undefined), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    if (ok !== 'healthy') {
      const tail = fs.readFileSync(started.logFile, 'utf8').split('\n').slice(-20).join('\n');
      throw new Error(`${svc.id} did not become healthy (${ok ?? 'timed out'}):\n${tail}`);
    }
  };
  try {
    await assertFree(topo.services.filter((s) => s.kind === 'mariadb' || s.kind === 'redis' || s.kind === 'sentinel' || s.kind.endsWith('-endpoint')));
    for (const svc of mariadbStartOrder(topo)) await engines.start(bed.ctxOf(svc.node, 'mariadb'), { healthyTimeoutMs: 120_000 });
    const redis = servicesOf(topo, 'redis');
    for (const svc of [...redis.filter((s) => s.node === topo.initialRedisMaster), ...redis.filter((s) => s.node !== topo.initialRedisMaster)]) {
      await engines.start(bed.ctxOf(svc.node, 'redis'));
    }
    for (const svc of servicesOf(topo, 'sentinel')) await engines.start(bed.ctxOf(svc.node, 'sentinel'));
    if (servicesOf(topo, 'sentinel').length > 0) await waitSentinelsReady(topo, bed.secrets, 60_000);
    timings.push(`engines up ${Date.now() - t0} ms`);
    // What `up` writes before it starts our own services: they read both.
    writeTopology(topo);
    for (const kind of ENDPOINT_KINDS) for (const svc of servicesOf(topo, kind)) await startEndpoint(svc);
    timings.push(`endpoints healthy ${Date.now() - t0} ms`);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    ...bed,
    engines,
    endpoint(node, kind) {
      const svc = topo.services.find((s) => s.node === node && s.kind === kind);
      if (svc === undefined) throw new Error(`${node}/${kind} is not in the topology (endpoints.enabled, and does ${node} carry app or worker?)`);
      return svc;
    },
    startEndpoint,
    stop,
  };
}
