import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, HastackError } from '../shared/errors.js';

/*
 * The manifest of one backup: what was copied from where, at which GTID, and the sha256 of every
 * file, written as `manifest.json` at the top of the backup directory. It is the contract between
 * `hastack backup` (writes it), `backup list` (shows it) and `restore --verify` (checks the files
 * and the restored data against it). Parsed with a schema: a backup directory is input from disk
 * that an operator, a crash or a full disk may have changed.
 */

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 1;

const fileEntry = z.object({ path: z.string().min(1), size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

const tableStats = z
  .object({
    name: z.string().min(1),
    rows: z.number().int().min(0),
    /** CHECKSUM TABLE at backup time; null when the server could not compute one. */
    checksum: z.string().nullable(),
  })
  .strict();

export const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    id: z.string().min(1),
    cluster: z.string().min(1),
    trigger: z.enum(['manual', 'schedule']),
    startedAt: z.string(),
    finishedAt: z.string(),
    durationMs: z.number().int().min(0),
    source: z
      .object({
        node: z.string(),
        /** The role of the source database at backup time: a replica keeps the primary unblocked. */
        dbRole: z.enum(['primary', 'replica', 'galera']),
        redisNode: z.string().nullable(),
        redisRole: z.string().nullable(),
      })
      .strict(),
    target: z.object({ node: z.string(), dir: z.string() }).strict(),
    /** The GTID position the backup is consistent with (from mariabackup's xtrabackup_binlog_info). */
    gtid: z.string(),
    /** Prepared at backup time (`mariabackup --prepare` ran): the `mariadb/` directory is a startable datadir. */
    prepared: z.boolean(),
    database: z
      .object({
        name: z.string(),
        /**
         * True when the stats below were read while the source could not change (a replica with its
         * SQL thread stopped for the whole backup): restore must then reproduce them exactly. False
         * on a primary, where writes continued: they are only indicative.
         */
        statsExact: z.boolean(),
        tables: z.array(tableStats),
      })
      .strict(),
    tools: z.record(z.string()),
    files: z.array(fileEntry),
    totalBytes: z.number().int().min(0),
    /**
     * Present when the files are encrypted (backup.keyFile): each listed file is `<name>.enc` in
     * that format (backup-crypt.ts), sealed with the key whose id is here. The sha256 and sizes
     * above are of the encrypted bytes, so a target checks a copy without the key.
     */
    encryption: z
      .object({ format: z.string(), keyId: z.string().regex(/^[0-9a-f]{16}$/) })
      .strict()
      .optional(),
  })
  .strict();

export type BackupManifest = z.infer<typeof manifestSchema>;
export type ManifestFile = z.infer<typeof fileEntry>;
export type TableStats = z.infer<typeof tableStats>;

/** Reads and validates `<dir>/manifest.json`; throws a HastackError saying what is wrong. */
export function readManifest(dir: string): BackupManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HastackError(ErrorCode.NOT_FOUND, `${file} is missing or not JSON (${(e as Error).message}); this directory is no complete backup`);
  }
  const r = manifestSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new HastackError(ErrorCode.CONFIG_INVALID, `${file} is not a valid backup manifest: ${i?.path.join('.') ?? '?'}: ${i?.message ?? 'invalid'}`);
  }
  return r.data;
}

/**
 * Backup ids are the UTC start time, `20261129T120501Z`: sortable as strings, so "newest" and
 * retention need no parsing, and readable in `backup list`.
 */
export function backupIdAt(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
}

export function isBackupId(s: string): boolean {
  return /^\d{8}T\d{6}Z$/.test(s);
}

/**
 * mariabackup's `xtrabackup_binlog_info`: `FILE<TAB>POSITION<TAB>GTID` (the GTID column is absent
 * when the server has no GTID yet). Returns the GTID, '' when none.
 */
export function parseBinlogInfo(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
  const cols = first.trim().split(/\s+/);
  return cols[2] ?? '';
}

/** Every regular file under `dir`, as paths relative to it with `/`, sorted (stable manifests). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The manifest entries of every file under `dir` (except `skip`, such as the manifest itself). */
export async function describeFiles(dir: string, skip: readonly string[] = []): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const rel of listFiles(dir)) {
    if (skip.includes(rel)) continue;
    const abs = path.join(dir, rel);
    out.push({ path: rel, size: fs.statSync(abs).size, sha256: await sha256File(abs) });
  }
  return out;
}

/**
 * Compares what the manifest promises with what is on disk. Pure. Every difference is one line,
 * phrased for the operator; an empty list means every file is there, whole and unchanged.
 * Extra files are not an error (the verification result is written beside the manifest).
 */
export function compareFiles(expected: readonly ManifestFile[], actual: readonly ManifestFile[]): string[] {
  const have = new Map(actual.map((f) => [f.path, f]));
  const problems: string[] = [];
  for (const e of expected) {
    const a = have.get(e.path);
    if (!a) problems.push(`${e.path} is missing`);
    else if (a.size !== e.size) problems.push(`${e.path} is ${a.size} bytes, the manifest says ${e.size} (truncated or overwritten)`);
    else if (a.sha256 !== e.sha256) problems.push(`${e.path} has changed since the backup (sha256 differs)`);
  }
  return problems;
}

/** Sizes first (cheap), then hashes: checks every file the manifest lists under `dir`. */
export async function checkFiles(dir: string, m: BackupManifest): Promise<string[]> {
  const actual: ManifestFile[] = [];
  for (const e of m.files) {
    const abs = path.join(dir, e.path);
    let size: number;
    try {
      size = fs.statSync(abs).size;
    } catch {
      continue; // reported as missing by compareFiles
    }
    // A wrong size is already a finding: skip hashing a file that cannot match.
    actual.push({ path: e.path, size, sha256: size === e.size ? await sha256File(abs) : '' });
  }
  return compareFiles(m.files, actual);
}

export function totalBytes(files: readonly ManifestFile[]): number {
  return files.reduce((n, f) => n + f.size, 0);
}

/** `123.4 MB`, for lists and progress lines. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
