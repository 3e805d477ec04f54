import fs from 'node:fs';
import type { Topology } from '../config/index.js';
import type { EtcdClient } from '../engines/index.js';
import { writeFileAtomic } from '../shared/files.js';
import { autoModeFile } from './auto-mode.js';
import { journalFile } from './journal.js';
import { quorumPrefix } from './quorum.js';
import { semiSyncRecordFile } from './semisync-record.js';

/*
 * The records the controllers of a cluster share, kept in etcd as well as in files, for
 * `substrate: hosts`, where each controller runs on its own machine with its own state directory
 * (on `local`/`netns` they share one directory and need none of this):
 *   - `journal`: the failover in progress (failover-journal.json), which the next leader resumes;
 *   - `semisync`: the window in which the primary acknowledged without a replica
 *     (failover-semisync.json), which a promotion must know of;
 *   - `mode`: on, paused or off (failover-auto-mode.json): a failed failover turns it off for every
 *     controller, and an operator's `pause` on any controller's host reaches all of them.
 *
 * The acting controller is the only writer of the journal and the semi-sync record: it `push`es
 * them at every cycle and before every step of a failover, and a controller that becomes the
 * leader `pull`s them before it acts. The mode may be changed on any host: every controller
 * `syncMode`s each cycle, and the newer change (its `since`) wins.
 *
 * Each record is the file's text, or '' for no file (a closed semi-sync window is removed).
 */

type RecordName = 'journal' | 'semisync' | 'mode';
const FILES: Record<RecordName, (stateDir: string) => string> = { journal: journalFile, semisync: semiSyncRecordFile, mode: autoModeFile };

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function writeText(file: string, text: string): void {
  if (text === '') fs.rmSync(file, { force: true });
  else writeFileAtomic(file, text, 0o600);
}

/** `since` of a mode record's text (ms since the epoch); 0 when none or unreadable. */
function modeSince(text: string): number {
  try {
    const since = (JSON.parse(text) as { since?: unknown }).since;
    return typeof since === 'string' ? Date.parse(since) || 0 : 0;
  } catch {
    return 0;
  }
}

export class SharedRecords {
  /** What etcd holds, as last pushed or pulled by this controller: nothing unchanged is written again. */
  private readonly known = new Map<'journal' | 'semisync', string>();

  constructor(
    private readonly topo: Topology,
    private readonly client: EtcdClient,
  ) {}

  private key(name: RecordName): string {
    return `${quorumPrefix(this.topo)}records/${name}`;
  }

  private file(name: RecordName): string {
    return FILES[name](this.topo.stateDir);
  }

  /** The leader, before it acts: etcd's journal and semi-sync record replace this machine's files. */
  async pull(): Promise<void> {
    for (const name of ['journal', 'semisync'] as const) {
      const kv = await this.client.get(this.key(name));
      // Never recorded in etcd: this machine's file (if any) is all there is.
      if (kv === undefined) continue;
      writeText(this.file(name), kv.value);
      this.known.set(name, kv.value);
    }
    await this.syncMode();
  }

  /** The leader: its journal and semi-sync record to etcd, where changed since it last wrote them. */
  async push(names: readonly ('journal' | 'semisync')[] = ['journal', 'semisync']): Promise<void> {
    for (const name of names) {
      const text = readText(this.file(name));
      if (this.known.get(name) === text) continue;
      await this.client.put(this.key(name), text);
      this.known.set(name, text);
    }
  }

  /** Every controller, each cycle: the newer of this machine's mode and etcd's goes to the other. */
  async syncMode(): Promise<void> {
    const local = readText(this.file('mode'));
    const remote = (await this.client.get(this.key('mode')))?.value ?? '';
    if (local === remote) return;
    if (modeSince(local) > modeSince(remote)) await this.client.put(this.key('mode'), local);
    else if (remote !== '') writeText(this.file('mode'), remote);
  }
}
