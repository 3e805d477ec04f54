import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { BackupKey, CRYPT_FORMAT, ENCRYPTED_SUFFIX, decryptFile, encryptFile, readBackupKey } from './backup-crypt.js';
import { listFiles, type BackupManifest } from './backup-manifest.js';

/*
 * A backup's files encrypted in place before they leave the source machine (`seal`), and
 * decrypted into a scratch directory on the way back in (`unsealTree`, used by `restore` and the
 * drills). The staging directory is 0700 under the source node's backup directory: the plaintext
 * exists only there, on the machine that holds the live data anyway, and only until it is sealed.
 */

/** The key backups are encrypted with now (`backup.keyFile`), or undefined when unset. Refuses a key file inside a target. */
export function currentBackupKey(topo: Topology, targetRoots: readonly string[] = []): BackupKey | undefined {
  const file = topo.config.backup.keyFile;
  if (file === undefined) return undefined;
  for (const root of targetRoots) {
    const rel = path.relative(root, file);
    if (!rel.startsWith('..') && !path.isAbsolute(rel)) {
      throw new HastackError(
        ErrorCode.BACKUP_KEY_MISSING,
        `backup.keyFile ${file} is inside the backup target ${root}: whoever reads the backups would hold their key; move it elsewhere`,
      );
    }
  }
  return readBackupKey(file);
}

/** The context a file is sealed under: the backup's id and the file's path, so it decrypts only in its place. */
function contextOf(id: string, rel: string): string {
  return `${id}/${rel}`;
}

/** Encrypts every file under `dir` (but `skip`) into `<file>.enc` and removes the plaintext. */
export async function seal(dir: string, id: string, key: BackupKey, skip: readonly string[]): Promise<void> {
  for (const rel of listFiles(dir)) {
    if (skip.includes(rel)) continue;
    const abs = path.join(dir, rel);
    await encryptFile(key, abs, `${abs}${ENCRYPTED_SUFFIX}`, contextOf(id, rel));
    fs.rmSync(abs);
  }
}

export function encryptionOf(key: BackupKey): NonNullable<BackupManifest['encryption']> {
  return { format: CRYPT_FORMAT, keyId: key.id };
}

/**
 * The key to restore `m`: undefined for a plaintext backup; BACKUP_KEY_MISSING when it is
 * encrypted and backup.keyFile is unset, unreadable or another key.
 */
export function keyForBackup(topo: Topology, m: BackupManifest): BackupKey | undefined {
  if (!m.encryption) return undefined;
  const file = topo.config.backup.keyFile;
  if (file === undefined) {
    throw new HastackError(
      ErrorCode.BACKUP_KEY_MISSING,
      `backup ${m.id} is encrypted (${m.encryption.format}, key ${m.encryption.keyId}) and backup.keyFile is unset; set it to the file holding that key (it is kept off the backup targets) and run again`,
      { details: { id: m.id, keyId: m.encryption.keyId } },
    );
  }
  const key = readBackupKey(file);
  if (key.id !== m.encryption.keyId) {
    throw new HastackError(
      ErrorCode.BACKUP_KEY_MISSING,
      `backup ${m.id} was encrypted with key ${m.encryption.keyId}; backup.keyFile (${file}) holds key ${key.id}. Point backup.keyFile at the key the backup was made with (an old key is needed as long as backups made with it are kept)`,
      { details: { id: m.id, keyId: m.encryption.keyId, have: key.id } },
    );
  }
  return key;
}

/**
 * `<backup>/<sub>` as plaintext into `dest` (directories kept, `.enc` files decrypted, others
 * copied). Fails with BACKUP_TAMPERED on the first file that does not authenticate.
 */
export async function unsealTree(backupDir: string, id: string, key: BackupKey | undefined, sub: string, dest: string): Promise<void> {
  const from = path.join(backupDir, sub);
  if (!key) {
    fs.cpSync(from, dest, { recursive: true });
    return;
  }
  const walk = async (rel: string): Promise<void> => {
    fs.mkdirSync(path.join(dest, rel), { recursive: true, mode: 0o700 });
    for (const e of fs.readdirSync(path.join(from, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile() && e.name.endsWith(ENCRYPTED_SUFFIX)) {
        const plain = r.slice(0, -ENCRYPTED_SUFFIX.length);
        await decryptFile(key, path.join(from, r), path.join(dest, plain), contextOf(id, `${sub}/${plain}`));
      } else if (e.isFile()) {
        // A sealed backup holds only .enc files; anything else was put there later: it is not used.
        throw new HastackError(ErrorCode.BACKUP_TAMPERED, `${path.join(from, r)} is not encrypted in an encrypted backup: someone added it; do not restore from this backup`);
      }
    }
  };
  await walk('');
}

/** One file of the backup (`redis/dump.rdb`) as plaintext at `dest`. */
export async function unsealFile(backupDir: string, id: string, key: BackupKey | undefined, rel: string, dest: string): Promise<void> {
  if (!key) fs.copyFileSync(path.join(backupDir, rel), dest);
  else await decryptFile(key, path.join(backupDir, `${rel}${ENCRYPTED_SUFFIX}`), dest, contextOf(id, rel));
}
