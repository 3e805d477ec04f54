import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  SECRET_NAMES,
  fingerprintSecrets,
  generateSecrets,
  withAddedSecrets,
  hostStateDir,
  readSecretsFile,
  requireAllSecrets,
  secretsFile,
  secretsSubset,
  writeSecrets,
  type SecretName,
  type Secrets,
  type Topology,
} from '../config/index.js';
import { rotationJournalFile } from '../failover/index.js';
import { type HostSession, shq } from '../hosts/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { z } from 'zod';
import { nodeSecretNames } from './needs.js';

/**
 * The operator's secrets.json against the hosts': `deploy` must never push new passwords over the
 * ones the engines hold (Redis and MariaDB keep theirs in their data; services would then fail to
 * authenticate as they restart). Compared by keyed fingerprints: the operator picks a random key,
 * each host answers HMAC-SHA256(key, name + secret) for what it holds, and no password crosses
 * the wire. `hastack secrets pull` is the deliberate way back when the operator lost the file.
 */

/** Reading one small file on a host: answers in well under a second; 30 s is a stuck host. */
const READ_TIMEOUT_MS = 30_000;

/** What one host holds: nothing, or a fingerprint per secret it holds. */
export interface HostSecretsReport {
  readonly node: string;
  readonly present: boolean;
  readonly fingerprints: Partial<Record<SecretName, string>>;
}

const reportSchema = z.object({ present: z.boolean(), fingerprints: z.record(z.string()).default({}) });

/**
 * The program the host's own `node` runs (from stdin, so the key is in no argv): it reads the
 * cluster's secrets.json and prints the fingerprints, computed as fingerprintSecrets does. Needs
 * no hastack on the host (a host may hold an older release, or none yet).
 */
export function fingerprintProgram(file: string, key: string): string {
  return [
    "const fs = require('fs'); const crypto = require('crypto');",
    `const names = ${JSON.stringify(SECRET_NAMES)};`,
    `let text; try { text = fs.readFileSync(${JSON.stringify(file)}, 'utf8'); } catch (e) { if (e.code === 'ENOENT') { console.log(JSON.stringify({ present: false })); process.exit(0); } throw e; }`,
    'const s = JSON.parse(text); const fingerprints = {};',
    `for (const k of names) if (typeof s[k] === 'string') fingerprints[k] = crypto.createHmac('sha256', ${JSON.stringify(key)}).update(k + '\\0' + s[k]).digest('hex');`,
    'console.log(JSON.stringify({ present: true, fingerprints }));',
  ].join('\n');
}

/** Asks every host (side by side) for the fingerprints of what it holds under `key`. */
export async function hostSecretReports(topo: Topology, sessions: ReadonlyMap<string, HostSession>, key: string): Promise<HostSecretsReport[]> {
  const file = secretsFile(hostStateDir(topo.config));
  return Promise.all(
    [...sessions.values()].map(async (s): Promise<HostSecretsReport> => {
      // No secrets file: no answer needed from node (a fresh machine may not have node yet).
      const cmd = `if [ -f ${shq(file)} ]; then exec ${shq(s.nodeBin ?? 'node')} -; else echo '{"present":false}'; fi`;
      let out: string;
      try {
        out = await s.ssh.run(cmd, { input: fingerprintProgram(file, key), timeoutMs: READ_TIMEOUT_MS });
      } catch (e) {
        throw new HastackError(ErrorCode.SECRETS_MISMATCH, `cannot compare secrets with ${s.node} (${s.label}): ${describeError(e)}; deploy changed nothing`);
      }
      const parsed = reportSchema.safeParse(JSON.parse(out.trim().split('\n').pop() ?? '{}'));
      if (!parsed.success) throw new HastackError(ErrorCode.HOST_COMMAND_FAILED, `${s.node}: unexpected answer to the secrets comparison`);
      return { node: s.node, present: parsed.data.present, fingerprints: parsed.data.fingerprints as Partial<Record<SecretName, string>> };
    }),
  );
}

export type SecretsVerdict =
  /** Nothing anywhere: a new cluster, deploy makes the secrets. */
  | { readonly kind: 'new' }
  /** Every host holds the operator's values (or nothing yet). */
  | { readonly kind: 'same' }
  | { readonly kind: 'refuse'; readonly message: string };

/**
 * The decision, pure: the operator's secrets (undefined: no secrets.json) against the hosts'
 * fingerprints under `key`. A host without a secrets file is new and gets the operator's.
 */
export function judgeSecrets(operator: Partial<Secrets> | undefined, operatorFile: string, reports: readonly HostSecretsReport[], key: string, cli: string): SecretsVerdict {
  // A host whose services need no password (a load balancer) holds an empty file: it holds nothing.
  const holding = reports.filter((r) => r.present && Object.keys(r.fingerprints).length > 0);
  if (operator === undefined) {
    if (holding.length === 0) return { kind: 'new' };
    return {
      kind: 'refuse',
      message:
        `${operatorFile} is missing, but ${holding.map((r) => r.node).join(', ')} already hold this cluster's passwords: deploy will not make new ones ` +
        `(Redis and MariaDB keep the old ones; every service would fail to authenticate). Recover the file with "${cli} secrets pull", then deploy again`,
    };
  }
  const mine = fingerprintSecrets(operator, key);
  const differ: string[] = [];
  for (const r of holding) {
    const names = SECRET_NAMES.filter((k) => r.fingerprints[k] !== undefined && r.fingerprints[k] !== mine[k]);
    if (names.length > 0) differ.push(`${r.node}: ${names.join(', ')}`);
  }
  if (differ.length === 0) return { kind: 'same' };
  return {
    kind: 'refuse',
    message:
      `the hosts hold other passwords than ${operatorFile} (${differ.join('; ')}): deploy changed nothing. ` +
      `If this file is stale, "${cli} secrets pull" takes the hosts' passwords back; to change a password, use "${cli} secrets rotate NAME"`,
  };
}

/**
 * What each node's secrets.json holds: its services' secrets (nodeSecretNames, the descriptors' secrets); nodes
 * sharing one machine (one SSH target) share its file, so each gets the union of theirs. What
 * `deploy` sends and `secrets rotate` pushes: the two must agree byte for byte, or the next deploy
 * would see a change and restart every unit. Pure.
 */
export function hostSecretPayloads(topo: Topology, sessions: ReadonlyMap<string, HostSession>, secrets: Partial<Secrets>): Map<string, Partial<Secrets>> {
  const labelOf = (node: string): string | undefined => sessions.get(node)?.label;
  return new Map(
    topo.nodes.map((n) => {
      const names = topo.nodes.filter((m) => labelOf(m.name) === labelOf(n.name)).flatMap((m) => nodeSecretNames(topo, m));
      return [n.name, secretsSubset(secrets, names)];
    }),
  );
}

/** Before deploy writes anything: the operator's secrets, created only when no host holds any. */
export async function secretsForDeploy(topo: Topology, sessions: ReadonlyMap<string, HostSession>, cli: string): Promise<{ secrets: Secrets; write?: 'new' | 'added' }> {
  const file = secretsFile(topo.stateDir);
  // Mid-rotation the hosts hold a mix of old and new files, and the engines both passwords:
  // pushing either set now would undo part of it. The rotation's own re-run converges.
  const journal = rotationJournalFile(topo.stateDir);
  if (fs.existsSync(journal)) {
    throw new HastackError(
      ErrorCode.SECRETS_MISMATCH,
      `a "secrets rotate" is unfinished (${journal}): run "${cli} secrets rotate" to finish it, then deploy; deploy changed nothing`,
    );
  }
  const held = readSecretsFile(file);
  const key = crypto.randomBytes(32).toString('hex');
  const verdict = judgeSecrets(held, file, await hostSecretReports(topo, sessions, key), key, cli);
  if (verdict.kind === 'refuse') throw new HastackError(ErrorCode.SECRETS_MISMATCH, verdict.message);
  if (held === undefined) return { secrets: generateSecrets(), write: 'new' };
  const have = requireAllSecrets(held, file);
  // vrrpPassword and sessionKey came after the first release: added once, the others kept as they are.
  const filled = withAddedSecrets(have);
  return filled === have ? { secrets: have } : { secrets: filled, write: 'added' };
}

/**
 * `hastack secrets pull`: the hosts' secrets.json files merged into the operator's (0600). Each
 * host holds its node's subset; together they must hold every secret, and agree. The files travel
 * inside the SSH connection and are never printed.
 */
export async function pullSecrets(topo: Topology, sessions: ReadonlyMap<string, HostSession>, o: { force?: boolean } = {}): Promise<{ file: string; from: string[] }> {
  const file = secretsFile(topo.stateDir);
  if (readSecretsFile(file) !== undefined && o.force !== true) {
    throw new HastackError(ErrorCode.SECRETS_MISMATCH, `${file} exists; move it aside (or pass --force) to replace it with the hosts' passwords`);
  }
  const hostFile = secretsFile(hostStateDir(topo.config));
  const merged: Partial<Record<SecretName, string>> = {};
  const from: string[] = [];
  const conflicts: string[] = [];
  for (const s of sessions.values()) {
    const r = await s.ssh.exec(`cat ${shq(hostFile)}`, { timeoutMs: READ_TIMEOUT_MS });
    if (r.code !== 0) continue;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      throw new HastackError(ErrorCode.HOST_COMMAND_FAILED, `${s.node}: ${hostFile} is not JSON`);
    }
    from.push(s.node);
    for (const k of SECRET_NAMES) {
      const v = obj[k];
      if (typeof v !== 'string' || v === '') continue;
      if (merged[k] !== undefined && merged[k] !== v) conflicts.push(`${k} (${s.node} differs from an earlier host)`);
      else merged[k] = v;
    }
  }
  if (from.length === 0) throw new HastackError(ErrorCode.NOT_FOUND, `no host holds ${hostFile}: nothing was deployed yet, and "deploy" makes new passwords`);
  if (conflicts.length > 0)
    throw new HastackError(ErrorCode.SECRETS_MISMATCH, `the hosts disagree: ${conflicts.join(', ')}; fix the hosts first (a half-done "secrets rotate" resumes when run again)`);
  writeSecrets(topo.stateDir, requireAllSecrets(merged, `the hosts' secrets (${from.join(', ')})`));
  return { file, from };
}
