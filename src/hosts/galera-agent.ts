import { z } from 'zod';
import { applyNodeBootstrapChoice, readGaleraHealth, readNodeFacts, type BootstrapChoice, type NodeFacts } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { asRoot, type AgentEnv } from './agent-env.js';
import { installed } from './agent.js';
import { handOverServiceDir } from './service-users.js';
import { serviceUnitName } from './units.js';

/*
 * `_agent galera --id node/mariadb` (stdin: one request): the host side of a Galera cluster's
 * start and full-cluster recovery on hosts (galera-hosts.ts drives it from the operator's
 * machine). Every node's files are on its own machine, so what the local substrate does in one
 * process (engines/galera.ts prepareGaleraStart, control/galera-recovery.ts) is split per host:
 * - `look`: the unit's state and, when the server answers, its wsrep health;
 * - `halt`: SIGKILL the unit's processes and leave it stopped (asked only while no node is in a
 *   Primary component, so the server commits nothing; a clean stop of a node waiting for a
 *   primary took 16-28 s here, and its position is read from InnoDB anyway);
 * - `facts`: the node's recovery facts (grastate.dat, and `mariadbd --wsrep-recover` after a
 *   crash); refused while the unit runs (recover and a running server on one datadir collide);
 * - `choose`: this node's part of the bootstrap decision (safe_to_bootstrap and the marker its
 *   next start reads).
 */

const POSITION = /^[0-9a-f-]{36}:-?\d+$/;

export const galeraRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('look') }),
  z.object({ op: z.literal('facts') }),
  z.object({ op: z.literal('halt') }),
  // bootstrap false: position and reason are ignored.
  z.object({ op: z.literal('choose'), bootstrap: z.boolean(), position: z.string().regex(POSITION).optional(), reason: z.string().max(2_000).default('') }),
]);
export type GaleraRequest = z.infer<typeof galeraRequestSchema>;

const healthSchema = z.object({ healthy: z.boolean(), primary: z.boolean(), synced: z.boolean(), detail: z.string() });
export const galeraLookSchema = z.object({ unit: z.string(), active: z.boolean(), health: healthSchema.nullable(), error: z.string().optional() });
export type GaleraLook = z.infer<typeof galeraLookSchema>;

const positionSchema = z.object({ uuid: z.string(), seqno: z.number().int() });
export const nodeFactsSchema = z.object({
  node: z.string(),
  hasDatadir: z.boolean(),
  grastate: positionSchema.extend({ safeToBootstrap: z.boolean() }).optional(),
  recovered: positionSchema.optional(),
  recoverError: z.string().optional(),
  sstInterrupted: z.boolean(),
});
export const galeraChosenSchema = z.object({ chosen: z.string(), bootstrap: z.boolean() });

export function parseGaleraRequest(text: string): GaleraRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HastackError(ErrorCode.BAD_REQUEST, 'stdin is not JSON: galera reads one request {op: look|facts|choose, ...} (deploy and db recover send it)');
  }
  const r = galeraRequestSchema.safeParse(raw);
  if (!r.success) throw new HastackError(ErrorCode.BAD_REQUEST, `not a galera request: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

// A synced node answers SHOW STATUS in milliseconds; 2 s covers a node busy with a state transfer.
const LOOK_TIMEOUT_MS = 2_000;

export async function agentGalera(env: AgentEnv, id: string, req: GaleraRequest): Promise<GaleraLook | NodeFacts | z.infer<typeof galeraChosenSchema>> {
  const { topo, secrets, manager } = installed(env, id.split('/')[0]);
  const svc = topo.services.find((s) => s.id === id);
  if (!svc || svc.kind !== 'mariadb' || topo.config.database.mode !== 'galera') {
    throw new HastackError(ErrorCode.BAD_REQUEST, `${id} is not a galera node of cluster ${topo.cluster} (database.mode ${topo.config.database.mode})`);
  }
  const ctx: ServiceContext = { topo, secrets, svc, asRoot: asRoot() };
  const unit = serviceUnitName(topo, svc);
  const active = (await manager.status([unit]))[0]?.active ?? false;
  switch (req.op) {
    case 'look': {
      try {
        return { unit, active, health: await readGaleraHealth(ctx, LOOK_TIMEOUT_MS) };
      } catch (e) {
        return { unit, active, health: null, error: describeError(e) };
      }
    }
    case 'halt': {
      await manager.killAll([unit]);
      return { unit, active: (await manager.status([unit]))[0]?.active ?? false, health: null };
    }
    case 'facts': {
      if (active) throw new HastackError(ErrorCode.CLUSTER_RUNNING, `${unit} is running: stop it before its position is read (--wsrep-recover needs the datadir to itself)`);
      const facts = await readNodeFacts(ctx);
      // --wsrep-recover ran as root in the service's directory: the files are the service user's again.
      if (ctx.asRoot) handOverServiceDir(svc, secrets);
      return facts;
    }
    case 'choose': {
      const choice: BootstrapChoice = req.bootstrap
        ? { bootstrap: true, reason: req.reason, ...(req.position !== undefined ? { position: req.position } : {}) }
        : { bootstrap: false };
      applyNodeBootstrapChoice(svc, choice);
      if (ctx.asRoot) handOverServiceDir(svc, secrets);
      return { chosen: id, bootstrap: req.bootstrap };
    }
  }
}
