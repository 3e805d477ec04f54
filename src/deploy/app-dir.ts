import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { hostAppDir, isCommandApp, type Config, type NodeInstance } from '../config/index.js';
import { serviceUser, shq, type HostSession } from '../hosts/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * `deploy` ships a command app's files (`app.dir`, relative to hastack.yaml) to every host that
 * runs an app server or a worker, as `<installDir>/app` (the topology's `appDir` there).
 *
 * Modes are tight: owned by root, group `hastack-app` (the app servers' account), read-only to
 * it (0750 directories, 0640 files, the owner's execute bits kept), nothing for other accounts;
 * a host that also runs a worker adds `hastack-worker` to that group. The directory is swapped
 * in whole (upload beside it, two renames), so a process never sees half of it.
 *
 * What is never shipped: hastack's state root (it holds secrets.json when it sits beside the
 * config file, as by default) and `.git`.
 */

/** A tar of the app's files (a checkout of a few MB) over SSH on a LAN: seconds; 5 minutes bounds a slow link. */
const SHIP_TIMEOUT_MS = 5 * 60_000;

export function needsAppDir(config: Config, node: NodeInstance): boolean {
  return isCommandApp(config) && (node.services.includes('app') || node.services.includes('worker'));
}

/** `tar -cz` of `dir` without the state root and `.git`, as a stream (fails when tar does). */
function tarApp(dir: string, stateRoot: string): Readable {
  const excludes = ['./.git'];
  const rel = path.relative(dir, stateRoot);
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) excludes.push(`./${rel}`);
  const child = spawn('tar', ['-C', dir, '-cz', ...excludes.map((e) => `--exclude=${e}`), '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const out = new Readable({ read: () => child.stdout.resume() });
  child.stdout.on('data', (d: Buffer) => {
    if (!out.push(d)) child.stdout.pause();
  });
  child.once('close', (code) => {
    if (code === 0) out.push(null);
    else out.destroy(new HastackError(ErrorCode.SETUP_FAILED, `packing app.dir ${dir} failed (tar exit ${code}): ${stderr.trim()}`));
  });
  return out;
}

/**
 * sha256 over the shipped files' paths, modes and contents (what tar packs, in the same order as
 * sorted paths): equal digests, nothing to restart. Contents rather than mtimes: a fresh checkout
 * of the same commit must not restart the app.
 */
export async function appDirDigest(dir: string, stateRoot: string): Promise<string> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `app.dir ${dir} is not a directory (it is relative to hastack.yaml)`);
  }
  const skip = new Set([path.join(dir, '.git'), path.resolve(stateRoot)]);
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (skip.has(p)) continue;
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dir);
  const h = createHash('sha256');
  for (const f of files) {
    const st = fs.lstatSync(f);
    h.update(`${path.relative(dir, f)}\0${st.mode}\0`);
    h.update(st.isSymbolicLink() ? fs.readlinkSync(f) : await fs.promises.readFile(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export async function shipAppDir(s: HostSession, localDir: string, stateRoot: string, event: (m: string) => void): Promise<void> {
  const config = s.topo.config;
  const node = s.topo.nodes.find((n) => n.name === s.node);
  if (!node || !needsAppDir(config, node)) return;
  const remote = hostAppDir(config);
  const tmp = `${remote}.tmp`;
  const group = serviceUser('app');
  event(`${s.node}: shipping app.dir ${localDir} to ${remote}`);
  await s.ssh.run(`rm -rf ${shq(tmp)}`);
  await s.ssh.uploadTar(() => tarApp(localDir, stateRoot), tmp, { timeoutMs: SHIP_TIMEOUT_MS });
  const steps = [
    // The service accounts exist once the agent's apply has run (before this).
    `chown -R root:${shq(group)} ${shq(tmp)}`,
    `chmod -R u+rwX,g+rX,g-w,o-rwx ${shq(tmp)}`,
    ...(node.services.includes('worker') ? [`usermod -a -G ${shq(group)} ${shq(serviceUser('worker'))}`] : []),
    `rm -rf ${shq(`${remote}.old`)}`,
    `{ [ ! -e ${shq(remote)} ] || mv ${shq(remote)} ${shq(`${remote}.old`)}; }`,
    `mv ${shq(tmp)} ${shq(remote)}`,
    `rm -rf ${shq(`${remote}.old`)}`,
  ];
  await s.ssh.run(steps.join(' && '), { timeoutMs: SHIP_TIMEOUT_MS });
}
