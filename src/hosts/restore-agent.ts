import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { buildDir, buildHere, cleanHere, flushMemcached, lastArchivedHere, placeHere, planHere } from '../control/index.js';
import type { ServiceInstance } from '../config/index.js';
import type { StopAt } from '../failover/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { dirBytes } from '../shared/files.js';
import { asRoot, type AgentEnv } from './agent-env.js';
import { installed } from './agent.js';
import { handOverServiceDir } from './service-users.js';

/*
 * `_agent restore --id node/kind` (stdin: one request; `--send R` / `--receive R`: a tar stream):
 * the host side of `restore --into-cluster` on hosts (restore-hosts.ts drives it from the
 * operator's machine; control/restore-machines.ts holds what each op does on a machine). Ops:
 * - `plan`, `archived`, `build`: on the archive's machine, where the backups and the archive are;
 * - `--send R` writes the built datadir of restore R as a tar on stdout, `--receive R` unpacks one
 *   from stdin beside another node's datadir (`restore-R/data.incoming`, renamed to `data` only
 *   when whole), so a copy cut short is never taken for a datadir;
 * - `place` (the swap), `clean` (the set-aside datadir removed), `flush` (this node's memcached).
 */

const RESTORE_ID = /^rs-[a-z0-9]+-[0-9a-f]{4}$/;
const restoreId = z.string().regex(RESTORE_ID, 'a restore id (rs-...)');
const gtidSchema = z.object({ domain: z.number().int().nonnegative(), server: z.number().int().nonnegative(), seq: z.number().int().nonnegative() });
export const stopAtSchema: z.ZodType<StopAt> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('latest') }),
  z.object({ kind: z.literal('time'), unixS: z.number().int() }),
  z.object({ kind: z.literal('gtid'), gtid: gtidSchema }),
]);
const GTID_STATE = /^(\d+-\d+-\d+)?(,\d+-\d+-\d+)*$/;

export const restoreRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('plan'), stop: stopAtSchema }),
  z.object({ op: z.literal('archived') }),
  z.object({ op: z.literal('build'), restore: restoreId, stop: stopAtSchema }),
  z.object({
    op: z.literal('place'),
    restore: restoreId,
    built: z.boolean(),
    state: z.object({ role: z.enum(['primary', 'replica']), wired: z.boolean(), seedGtid: z.string().regex(GTID_STATE).optional() }).optional(),
    bootstrap: z.boolean().optional(),
    restoredTo: z.string().regex(GTID_STATE),
    preRestoreBackup: z.string().max(200).optional(),
    at: z.string().max(40),
  }),
  z.object({ op: z.literal('clean'), restore: restoreId }),
  z.object({ op: z.literal('flush') }),
]);
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;

export const restorePlanSchema = z.object({ base: z.string(), gtid: z.string(), applied: z.number() });
export const restoreArchivedSchema = z.object({ last: gtidSchema.nullable() });
export const restoreBuildSchema = z.object({ gtidState: z.string(), message: z.string(), lines: z.array(z.string()) });
export const restoreDoneSchema = z.object({ done: z.string() });
export const restoreFlushSchema = z.object({ flushed: z.number(), failed: z.array(z.string()) });
export const restoreReceivedSchema = z.object({ bytes: z.number() });

export function parseRestoreRequest(text: string): RestoreRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HastackError(
      ErrorCode.BAD_REQUEST,
      'stdin is not JSON: restore reads one request {op: plan|archived|build|place|clean|flush, ...} (restore --into-cluster sends it)',
    );
  }
  const r = restoreRequestSchema.safeParse(raw);
  if (!r.success) throw new HastackError(ErrorCode.BAD_REQUEST, `not a restore request: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

function serviceOf(env: AgentEnv, id: string, kind: ServiceInstance['kind']): ReturnType<typeof installed> & { svc: ServiceInstance } {
  const inst = installed(env, id.split('/')[0]);
  const svc = inst.topo.services.find((s) => s.id === id);
  if (!svc || svc.kind !== kind) throw new HastackError(ErrorCode.BAD_REQUEST, `${id} is no ${kind} service of cluster ${inst.topo.cluster} on this host`);
  return { ...inst, svc };
}

export async function agentRestore(env: AgentEnv, id: string, req: RestoreRequest): Promise<unknown> {
  if (req.op === 'flush') {
    const { svc } = serviceOf(env, id, 'memcached');
    const failed = await flushMemcached([svc]);
    return { flushed: 1 - failed.length, failed };
  }
  const { topo, secrets, svc } = serviceOf(env, id, 'mariadb');
  switch (req.op) {
    case 'plan':
      return planHere(topo, req.stop);
    case 'archived':
      return { last: lastArchivedHere(topo) ?? null };
    case 'build': {
      const lines: string[] = [];
      const r = await buildHere({ topo, secrets }, svc, req.restore, req.stop, (l) => lines.push(l));
      return { ...r, lines };
    }
    case 'place': {
      placeHere(topo, svc, req.restore, {
        built: req.built,
        ...(req.state ? { state: { role: req.state.role, wired: req.state.wired, ...(req.state.seedGtid ? { seedGtid: req.state.seedGtid } : {}) } } : {}),
        ...(req.bootstrap !== undefined ? { bootstrap: req.bootstrap } : {}),
        restore: { id: req.restore, at: req.at, restoredTo: req.restoredTo, ...(req.preRestoreBackup ? { preRestoreBackup: req.preRestoreBackup } : {}) },
      });
      // Root moved and wrote files in the service's directory: they are the service user's again.
      if (asRoot()) handOverServiceDir(svc, secrets);
      return { done: `${svc.id}: ${req.built ? 'restored datadir in place' : 'datadir set aside'}` };
    }
    case 'clean':
      cleanHere(svc, req.restore);
      return { done: `${svc.id}: restore ${req.restore} cleaned up` };
  }
}

function runTar(args: readonly string[], stdio: 'send' | 'receive'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: stdio === 'send' ? ['ignore', 'inherit', 'pipe'] : ['inherit', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2000)));
    child.once('error', (e) => reject(new HastackError(ErrorCode.ENGINE_MISSING, `running tar failed (${e.message}): apt-get install tar`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new HastackError(ErrorCode.SETUP_FAILED, `tar ${args.join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/** `--send R`: the built datadir of restore R as a tar on stdout (not JSON: the operator pipes it to `--receive`). */
export async function agentRestoreSend(env: AgentEnv, id: string, restore: string): Promise<void> {
  if (!RESTORE_ID.test(restore)) throw new HastackError(ErrorCode.BAD_REQUEST, `--send ${restore}: not a restore id (rs-...)`);
  const { svc } = serviceOf(env, id, 'mariadb');
  const dir = path.join(buildDir(svc, restore), 'data');
  if (!fs.existsSync(dir)) throw new HastackError(ErrorCode.NOT_FOUND, `${svc.id}: no built datadir of restore ${restore} (${dir}); run the restore again (it builds again)`);
  await runTar(['-C', dir, '--sparse', '-cf', '-', '.'], 'send');
}

/** `--receive R`: a tar of the restored datadir from stdin, into `<svc.dir>/restore-R/data`, in place only when whole. */
export async function agentRestoreReceive(env: AgentEnv, id: string, restore: string): Promise<{ bytes: number }> {
  if (!RESTORE_ID.test(restore)) throw new HastackError(ErrorCode.BAD_REQUEST, `--receive ${restore}: not a restore id (rs-...)`);
  const { svc, secrets } = serviceOf(env, id, 'mariadb');
  const base = buildDir(svc, restore);
  const incoming = path.join(base, 'data.incoming');
  fs.rmSync(incoming, { recursive: true, force: true });
  fs.rmSync(path.join(base, 'data'), { recursive: true, force: true });
  fs.mkdirSync(incoming, { recursive: true, mode: 0o700 });
  await runTar(['-C', incoming, '--no-same-owner', '-xf', '-'], 'receive');
  fs.renameSync(incoming, path.join(base, 'data'));
  if (asRoot()) handOverServiceDir(svc, secrets);
  return { bytes: dirBytes(path.join(base, 'data')) };
}
