import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './common.js';

/*
 * MariaDB's `wsrep_sst_mariabackup` donor streams a small GTID file first, then sleeps a fixed
 * 10 s ("Sleeping before data transfer for SST") so the joiner can start its second listener,
 * then streams the backup. The joiner restarts that listener within milliseconds of the first
 * stream's end (measured here: 16 ms), so every join of an empty node took 10 s longer than its
 * copy: 14-18 s per joiner at `up` of a three-node cluster, most of it that sleep.
 *
 * hastack runs the same script under another method name, `hsmariabackup`, rendered from the
 * installed one with two changes: no fixed sleep, and the donor's socat connect retries (every
 * 100 ms for up to 15 s) until the joiner listens, the condition the sleep stood for. Everything
 * else (mariabackup, TLS, the joiner's checks) is MariaDB's own code. When the installed script
 * does not have the expected lines (another MariaDB version), nothing is rendered and the plain
 * `mariabackup` method is used.
 */

export const FAST_SST_METHOD = 'hsmariabackup';
const SCRIPT = 'wsrep_sst_mariabackup';
// 150 × 100 ms: the joiner's own wait for its listener is 30 s; 15 s is ample for a restart.
const RETRY = ',retry=150,interval=0.1';

const EDITS: ReadonlyArray<{ readonly from: string; readonly to: (dir: string) => string }> = [
  // The script sources its helpers from its own directory: from the installed one instead.
  { from: '. $(dirname "$0")/wsrep_sst_common', to: (dir) => `. '${dir}/wsrep_sst_common'` },
  { from: '        sleep 10\n', to: () => '        : # hastack: no fixed sleep; the connect below retries until the joiner listens\n' },
  { from: 'tcmd="socat -u stdio TCP:$REMOTEIP:$SST_PORT$sockopt"', to: () => `tcmd="socat -u stdio TCP:$REMOTEIP:$SST_PORT$sockopt${RETRY}"` },
  { from: 'local addr="$REMOTEIP:$SST_PORT"', to: () => `local addr="$REMOTEIP:$SST_PORT${RETRY}"` },
];

/** The installed script with the edits above; undefined when any edit does not apply exactly once. Pure. */
export function renderFastSst(installed: string, installedDir: string): string | undefined {
  let out = installed;
  for (const e of EDITS) {
    if (out.split(e.from).length !== 2) return undefined;
    // A function, so the `$` of the shell text is never read as a replacement pattern.
    out = out.replace(e.from, () => e.to(installedDir));
  }
  return out;
}

function findInstalled(): string | undefined {
  const dirs = ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')];
  return dirs.map((d) => path.join(d, SCRIPT)).find((p) => fs.existsSync(p));
}

/**
 * Writes `dir/wsrep_sst_hsmariabackup` (0755) and returns the method to configure: `hsmariabackup`
 * when the script could be rendered, else `mariabackup`. Every node of the cluster must be able
 * to run the method a joiner asks for, so this is only used where all nodes share this machine's
 * programs (local, netns).
 */
export function prepareFastSst(dir: string): string {
  const installed = findInstalled();
  if (installed === undefined) return 'mariabackup';
  const text = renderFastSst(fs.readFileSync(installed, 'utf8'), path.dirname(installed));
  if (text === undefined) return 'mariabackup';
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `wsrep_sst_${FAST_SST_METHOD}`);
  writeFileAtomic(file, text, 0o755);
  return FAST_SST_METHOD;
}
