import { spawn } from 'node:child_process';
import path from 'node:path';
import { readTopology } from '../config/index.js';
import { receiveAbort, receiveBegin, receiveFinish } from '../failover/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';

/**
 * The backup key's gate. A database node copies a backup to another machine with the cluster's
 * backup key, which every target host accepts only as
 * `restrict,from="<database nodes>",command="<hastack> _backup-gate --state DIR --node N"`
 * (backup-key.ts). Whatever the sender asks, sshd runs this gate; it reads the request from
 * `SSH_ORIGINAL_COMMAND` and lets through only: rsync's receiving side writing into
 * `<DIR>/<N>/backups/.incoming-<id>/` (never `--sender`: the key cannot read a backup back, nor
 * pass arguments over the socket with --protect-args), and `begin ID`, `finish ID KEEP`,
 * `abort ID` (failover/backup-receive.ts). No shell, no other directory, no other node.
 */
export type BackupGateCall =
  | { readonly kind: 'rsync'; readonly argv: readonly string[] }
  | { readonly kind: 'begin' | 'abort'; readonly id: string }
  | { readonly kind: 'finish'; readonly id: string; readonly keep: number };

function refuse(why: string): HastackError {
  return new HastackError(ErrorCode.BAD_REQUEST, `the backup key may only receive a backup (rsync into .incoming-<id>, begin, finish, abort); refused: ${why}`);
}

const ID = /^\d{8}T\d{6}Z$/;
/**
 * rsync's server options as a sender with `-a --checksum --delete --partial-dir=.rsync-partial
 * --timeout=N` asks for them: the compact letters (then `e.` and the protocol's capability
 * letters); `s` (protect-args: the real arguments would come over the socket, past this check) is refused.
 */
const COMPACT = /^-([a-df-zA-Z]+)(e\.[A-Za-z]*)?$/;

/** Checks the sender's request. Pure; throws BAD_REQUEST with the reason. */
export function parseBackupGateCommand(original: string | undefined, stateDir: string, node: string): BackupGateCall {
  if (original === undefined || original.trim() === '') throw refuse('no command (an interactive shell)');
  const words = original.trim().split(/ +/);
  const bad = words.find((w) => !/^[A-Za-z0-9_@%+=:,./-]+$/.test(w));
  if (bad !== undefined) throw refuse(`the word ${JSON.stringify(bad.slice(0, 80))} (no shell here)`);
  const [verb, ...rest] = words;
  if (verb === 'begin' || verb === 'abort') {
    if (rest.length !== 1 || !ID.test(rest[0] ?? '')) throw refuse(`${verb} takes one backup id`);
    return { kind: verb, id: rest[0] as string };
  }
  if (verb === 'finish') {
    if (rest.length !== 2 || !ID.test(rest[0] ?? '') || !/^[1-9]\d{0,3}$/.test(rest[1] ?? '')) throw refuse('finish takes a backup id and a count to keep');
    return { kind: 'finish', id: rest[0] as string, keep: Number(rest[1]) };
  }
  if (verb !== 'rsync' || rest[0] !== '--server') throw refuse(`the command ${JSON.stringify(original.slice(0, 120))}`);
  const dot = rest.indexOf('.');
  if (dot < 0 || dot !== rest.length - 2) throw refuse('an rsync without exactly one destination');
  for (let i = 1; i < dot; i++) {
    const w = rest[i] as string;
    const m = COMPACT.exec(w);
    if (m) {
      if ((m[1] ?? '').includes('s')) throw refuse('rsync --protect-args');
      continue;
    }
    if (/^--timeout=\d+$/.test(w) || w === '--delete' || w === '--partial-dir=.rsync-partial') continue;
    if (w === '--partial-dir' && rest[i + 1] === '.rsync-partial') {
      i++;
      continue;
    }
    throw refuse(`the rsync option ${JSON.stringify(w)}`);
  }
  const dest = rest[dot + 1] as string;
  const root = path.posix.join(stateDir, node, 'backups');
  const m = /^(.*)\/\.incoming-(\d{8}T\d{6}Z)\/?$/.exec(dest);
  if (!m || m[1] !== root) throw refuse(`the destination ${JSON.stringify(dest)} (only ${root}/.incoming-<id>/)`);
  return { kind: 'rsync', argv: ['rsync', ...rest] };
}

/** `_backup-gate --state DIR --node N`: runs one checked request; exits with its status. */
export async function runBackupGate(stateDir: string, node: string): Promise<number> {
  let call: BackupGateCall;
  try {
    call = parseBackupGateCommand(process.env['SSH_ORIGINAL_COMMAND'], stateDir, node);
  } catch (e) {
    process.stderr.write(`${describeError(e)}\n`);
    return 1;
  }
  if (call.kind === 'rsync') {
    const [cmd, ...args] = call.argv;
    // rsync speaks its protocol over our stdin/stdout: hand them over as they are.
    const child = spawn(cmd ?? 'rsync', args, { stdio: 'inherit' });
    return new Promise((resolve) => {
      child.once('error', (e) => {
        process.stderr.write(`cannot run rsync on ${node}: ${e.message}; run "hastack deploy" (it installs rsync)\n`);
        resolve(127);
      });
      child.once('exit', (code) => resolve(code ?? 1));
    });
  }
  try {
    const topo = { ...readTopology(stateDir), stateDir };
    if (!topo.nodes.some((n) => n.name === node)) throw new HastackError(ErrorCode.NOT_FOUND, `no node ${node} in the cluster installed under ${stateDir}`);
    const out =
      call.kind === 'finish' ? await receiveFinish(topo, node, call.id, call.keep) : call.kind === 'begin' ? receiveBegin(topo, node, call.id) : receiveAbort(topo, node, call.id);
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${describeError(e)}\n`);
    return 1;
  }
}
