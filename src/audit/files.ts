import fs from 'node:fs';
import path from 'node:path';
import type { FileFact } from './facts.js';

/**
 * The state directory's files as the audit sees them: mode, owner, whether the name says secret,
 * whether the content holds a password. Bounded: a cluster's state holds databases and backups, so
 * only config-like files are read, directories the engines own are not entered, and the walk stops
 * after MAX_ENTRIES.
 */
const MAX_ENTRIES = 5_000;
const MAX_DEPTH = 5;
/** Rendered configs and our own JSON are small; a bigger file is data, not config. */
const MAX_READ_BYTES = 256 * 1024;
/** Engines' data, backups and the deploy bundle: large, and never hold a rendered password. */
const SKIP_DIRS = new Set(['data', 'backups', 'bundle', 'releases', 'node_modules', 'dist', 'galera-cache']);
const CONFIG_LIKE = /\.(conf|cnf|json|ya?ml|env|ini|args|txt|sh|service)$|^exec-args$/;

/** Files that are secrets by name: the cluster's passwords, the admin token, private keys. */
export function isSecretName(name: string): boolean {
  return name === 'secrets.json' || name === 'admin-token' || /^id_(ed25519|rsa|ecdsa)$/.test(name) || name === 'controller_ed25519' || /\.(key|pem)$/.test(name);
}

/** Whether a text holds one of the secrets (each at least 16 characters: no accidental match). */
export function holdsSecret(text: string, secrets: readonly string[]): boolean {
  return secrets.some((s) => s.length >= 16 && text.includes(s));
}

/** Whether every directory from / down to `p`'s parent is o+x. */
function ancestorsLetOthersThrough(p: string): boolean {
  let dir = path.dirname(path.resolve(p));
  for (;;) {
    try {
      if ((fs.statSync(dir).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const up = path.dirname(dir);
    if (up === dir) return true;
    dir = up;
  }
}

export function scanStateDir(root: string, secrets: readonly string[]): { files: FileFact[]; problems: string[] } {
  const files: FileFact[] = [];
  const problems: string[] = [];
  const visit = (p: string, depth: number, parentUid: number, othersReach: boolean): void => {
    if (files.length >= MAX_ENTRIES) return;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      problems.push(`cannot stat ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      return;
    }
    if (st.isSymbolicLink()) return;
    const name = path.basename(p);
    if (st.isDirectory()) {
      files.push({ path: p, mode: st.mode & 0o7777, uid: st.uid, parentUid, dir: true, secretFile: false, holdsSecret: false, othersReach });
      if (depth >= MAX_DEPTH || SKIP_DIRS.has(name)) return;
      let entries: string[] = [];
      try {
        entries = fs.readdirSync(p).sort();
      } catch (e) {
        problems.push(`cannot list ${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        return;
      }
      for (const e of entries) visit(path.join(p, e), depth + 1, st.uid, othersReach && (st.mode & 0o001) !== 0);
      return;
    }
    if (!st.isFile()) return;
    const secretFile = isSecretName(name);
    let holds = false;
    if (!secretFile && (CONFIG_LIKE.test(name) || (st.mode & 0o111) !== 0) && st.size <= MAX_READ_BYTES) {
      try {
        holds = holdsSecret(fs.readFileSync(p, 'utf8'), secrets);
      } catch {
        // unreadable to us: its mode is still judged
      }
    }
    files.push({ path: p, mode: st.mode & 0o7777, uid: st.uid, parentUid, dir: false, secretFile, holdsSecret: holds, othersReach });
  };
  let rootUid = 0;
  try {
    rootUid = fs.statSync(path.dirname(root)).uid;
  } catch {
    // the parent is gone: the root's own stat says so below
  }
  visit(root, 0, rootUid, ancestorsLetOthersThrough(root));
  if (files.length >= MAX_ENTRIES) problems.push(`${root}: stopped after ${MAX_ENTRIES} entries; files past them were not checked`);
  return { files, problems };
}
