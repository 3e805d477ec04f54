import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { tailFile, writeFileAtomic } from '../shared/files.js';
import { runToCompletion } from './common.js';
import { BINLOG_INFO_FILES, parseBackupGtid } from './mariadb-seed.js';

/*
 * The mariabackup half of provisioning a replica (mariadb.ts decides when, and of which node):
 * back up a live server whose datadir is on this machine, prepare the copy, read its GTID.
 * Knows nothing of roles or state files, so mariadb.ts can import it without a cycle.
 */

/** The option file of a provisioning run, in the new node's directory (holds a password: never left behind). */
export const SEED_CNF = 'mariabackup-seed.cnf';

// mariabackup copies at disk speed (~100 MB in seconds here, ENGINE-NOTES); 30 min bounds a large
// datadir on a slow disk, as `hastack backup` does.
const MARIABACKUP_TIMEOUT_MS = 30 * 60_000;

export interface LiveSource {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** The source's my.cnf: mariabackup reads its datadir (and the rest of [mysqld]) from there. */
  readonly conf: string;
}

export interface CopyOptions {
  readonly source: LiveSource;
  /** The account mariabackup connects with (BACKUP STAGE locks, binlog position). */
  readonly user: string;
  readonly password: string;
  /** Where the prepared copy goes; must not exist. */
  readonly targetDir: string;
  /** The directory for the option file. */
  readonly workDir: string;
  /** mariabackup's output is appended here. */
  readonly logFile: string;
  /** One line per step, for the same log. */
  readonly log: (line: string) => void;
  /** Names the new node in error messages. */
  readonly forWhom: string;
}

/** Option file: the source's my.cnf plus the admin account over TCP (0600). */
function writeCnf(file: string, o: CopyOptions): void {
  const text = [`!include ${o.source.conf}`, '[mariabackup]', `user=${o.user}`, `password=${o.password}`, `host=${o.source.address}`, `port=${o.source.port}`, ''].join('\n');
  writeFileAtomic(file, text, 0o600);
}

async function runMariabackup(logFile: string, args: readonly string[], what: string): Promise<void> {
  const code = await runToCompletion('mariabackup', args, { logFile, timeoutMs: MARIABACKUP_TIMEOUT_MS });
  if (code !== 0) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `${what} failed (exit code ${code}); last lines of ${logFile}:\n${tailFile(logFile, 12)}\n` +
        'fix the cause (disk space, the source node answering) and start the node again: the partial copy is discarded',
    );
  }
}

/**
 * `mariabackup --backup` of the live source into `targetDir`, then `--prepare` (the copy becomes a
 * startable datadir). Returns the GTID the copy is consistent with (gtid_current_pos under the
 * backup's commit lock, from the binlog info file). On error the caller removes `targetDir`.
 */
export async function copyLiveDatadir(o: CopyOptions): Promise<string> {
  const cnf = path.join(o.workDir, SEED_CNF);
  writeCnf(cnf, o);
  try {
    o.log(`seed: mariabackup --backup of ${o.source.id}`);
    await runMariabackup(o.logFile, [`--defaults-file=${cnf}`, '--backup', `--target-dir=${o.targetDir}`], `mariabackup --backup of ${o.source.id} for ${o.forWhom}`);
  } finally {
    fs.rmSync(cnf, { force: true });
  }
  o.log('seed: mariabackup --prepare');
  await runMariabackup(o.logFile, ['--prepare', `--target-dir=${o.targetDir}`], `mariabackup --prepare for ${o.forWhom}`);
  const info = BINLOG_INFO_FILES.map((f) => path.join(o.targetDir, f)).find((f) => fs.existsSync(f));
  const gtid = info ? parseBackupGtid(fs.readFileSync(info, 'utf8')) : '';
  if (gtid === '') {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `the mariabackup of ${o.source.id} recorded no GTID position (${BINLOG_INFO_FILES.join(' / ')}), so ${o.forWhom} would not know where to replicate from; check that ${o.source.id} runs with log_bin`,
    );
  }
  return gtid;
}
