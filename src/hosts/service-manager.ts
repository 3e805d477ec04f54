import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { ManagerKind, UnitStatus } from './agent-types.js';
import { childAlive, keeperAlive, killKeeper, readKeeperState, renderSpec, specFile, startKeeper, stateFileOf, stopKeeper, unitsDir } from './keeper.js';
import { SYSTEMD_UNIT_DIR, controlledUnit, parseShow, systemctl, systemctlOk, unitFiles } from './systemd.js';
import { unitPrefix, type UnitSpec } from './units.js';

/** A file the manager needs on disk for a unit (a systemd unit file, or a keeper spec). */
export interface ManagedFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
}

/**
 * What runs a host's units: systemd where it is PID 1, else hastack's keeper. Same guarantees
 * for both: `start`/`stop`/`restart` are idempotent; after `killAll` nothing of those units runs
 * and nothing restarts them until `start`.
 */
export interface ServiceManager {
  readonly kind: ManagerKind;
  /** Said to the operator: why this manager, and what it means (no start at boot). */
  readonly note?: string;
  /** The files that define a unit for this manager. */
  files(spec: UnitSpec): ManagedFile[];
  /** After the files were written: make the manager see them (daemon-reload, enable). */
  install(specs: readonly UnitSpec[], filesChanged: boolean): Promise<void>;
  /** Unit files of this cluster installed on this host (to find the ones no longer wanted). */
  installedFiles(cluster: string): string[];
  /** Stops and disables the units of these installed files, then deletes the files. */
  remove(files: readonly string[]): Promise<void>;
  start(names: readonly string[]): Promise<void>;
  stop(names: readonly string[]): Promise<void>;
  restart(names: readonly string[]): Promise<void>;
  status(names: readonly string[]): Promise<UnitStatus[]>;
  /** SIGKILL every process of the units and leave them stopped (a node failure). */
  killAll(names: readonly string[]): Promise<void>;
}

export interface ManagerContext {
  /** `<hosts.stateDir>/<cluster>`. */
  readonly stateDir: string;
  /** Every unit of this node (names given to the methods must be among them). */
  readonly specs: readonly UnitSpec[];
  readonly nodeBin: string;
  readonly cliMain: string;
  /** Where unit files go (default /etc/systemd/system). */
  readonly unitDir?: string;
}

function specsByName(ctx: ManagerContext, names: readonly string[]): UnitSpec[] {
  return names.map((n) => {
    const s = ctx.specs.find((x) => x.name === n || `${x.name}.service` === n);
    if (!s) throw new HastackError(ErrorCode.NOT_FOUND, `no unit "${n}" on this node; its units: ${ctx.specs.map((x) => x.name).join(', ')}`);
    return s;
  });
}

const ISO = (d: Date): string => d.toISOString();

export class SystemdManager implements ServiceManager {
  readonly kind = 'systemd' as const;
  constructor(private readonly ctx: ManagerContext) {}

  files(spec: UnitSpec): ManagedFile[] {
    return unitFiles(spec).map((f) => ({ path: path.posix.join(this.ctx.unitDir ?? SYSTEMD_UNIT_DIR, f.file), content: f.content, mode: 0o644 }));
  }

  async install(specs: readonly UnitSpec[], filesChanged: boolean): Promise<void> {
    if (filesChanged) await systemctlOk(['daemon-reload']);
    if (specs.length > 0) await systemctlOk(['enable', ...specs.map(controlledUnit)]);
  }

  installedFiles(cluster: string): string[] {
    const dir = this.ctx.unitDir ?? SYSTEMD_UNIT_DIR;
    return listDir(dir)
      .filter((f) => f.startsWith(`${unitPrefix(cluster)}-`) && /\.(service|timer)$/.test(f))
      .map((f) => path.posix.join(dir, f));
  }

  async remove(files: readonly string[]): Promise<void> {
    if (files.length === 0) return;
    // disable --now: stopped, and no longer started at boot or by its timer.
    await systemctl(['disable', '--now', ...files.map((f) => path.posix.basename(f))], STOP_BOUND_MS);
    for (const f of files) fs.rmSync(f, { force: true });
    await systemctlOk(['daemon-reload']);
  }

  async start(names: readonly string[]): Promise<void> {
    const units = specsByName(this.ctx, names).map(controlledUnit);
    // --no-block: ExecStartPre (prepare) may take minutes; the caller probes for health itself.
    if (units.length > 0) await systemctlOk(['start', '--no-block', ...units]);
  }

  async stop(names: readonly string[]): Promise<void> {
    const specs = specsByName(this.ctx, names);
    if (specs.length === 0) return;
    const grace = Math.max(...specs.map((s) => s.stopTimeoutMs));
    await systemctlOk(['stop', ...specs.map(controlledUnit)], grace + 10_000);
  }

  async restart(names: readonly string[]): Promise<void> {
    const units = specsByName(this.ctx, names).map(controlledUnit);
    if (units.length > 0) await systemctlOk(['restart', '--no-block', ...units]);
  }

  async status(names: readonly string[]): Promise<UnitStatus[]> {
    const out: UnitStatus[] = [];
    for (const spec of specsByName(this.ctx, names)) {
      // --timestamp=unix (systemd 248+): "@1700000000" instead of a local-time string.
      const r = await systemctl(['show', '--timestamp=unix', '-p', 'ActiveState', '-p', 'MainPID', '-p', 'NRestarts', '-p', 'ActiveEnterTimestamp', controlledUnit(spec)]);
      const p = parseShow(r.stdout);
      const active = p['ActiveState'] === 'active' || p['ActiveState'] === 'activating' || p['ActiveState'] === 'reloading';
      const pid = Number(p['MainPID'] ?? 0);
      const ts = p['ActiveEnterTimestamp'] ?? '';
      const since = ts.startsWith('@') ? new Date(Number(ts.slice(1)) * 1000) : ts !== '' ? new Date(ts) : undefined;
      out.push({
        name: spec.name,
        ...(spec.serviceId !== undefined ? { serviceId: spec.serviceId } : {}),
        active,
        ...(pid > 0 ? { pid } : {}),
        ...(p['NRestarts'] !== undefined && p['NRestarts'] !== '' ? { restarts: Number(p['NRestarts']) } : {}),
        ...(active && since && !Number.isNaN(since.getTime()) ? { since: ISO(since) } : {}),
      });
    }
    return out;
  }

  async killAll(names: readonly string[]): Promise<void> {
    const units = specsByName(this.ctx, names).map(controlledUnit);
    if (units.length === 0) return;
    // SIGKILL to every process of the units (a power cut), then stop them at once so that
    // Restart=always does not bring them back: the restart waits RestartSec (≥ 10 ms, the
    // schema's floor), and a stop of a unit waiting to restart cancels the restart.
    await systemctl(['kill', '-s', 'KILL', '--kill-who=all', ...units]);
    await systemctlOk(['stop', ...units]);
  }
}

class KeeperManager implements ServiceManager {
  readonly kind = 'hastack' as const;
  constructor(
    private readonly ctx: ManagerContext,
    readonly note?: string,
  ) {}

  private file(spec: UnitSpec): string {
    return specFile(this.ctx.stateDir, spec.name);
  }

  files(spec: UnitSpec): ManagedFile[] {
    return [{ path: this.file(spec), content: renderSpec(spec), mode: 0o644 }];
  }

  async install(): Promise<void> {
    // The spec files are the whole installation: a keeper reads its file when it starts.
  }

  installedFiles(): string[] {
    const dir = unitsDir(this.ctx.stateDir);
    return listDir(dir)
      .filter((f) => f.endsWith('.json') && !f.endsWith('.state.json'))
      .map((f) => path.join(dir, f));
  }

  async remove(files: readonly string[]): Promise<void> {
    for (const f of files) {
      await stopKeeper(f).catch(() => undefined);
      fs.rmSync(stateFileOf(f), { force: true });
      fs.rmSync(f, { force: true });
    }
  }

  async start(names: readonly string[]): Promise<void> {
    // A scheduled unit's keeper is its timer (keeper.ts runTimer): it waits, runs the unit, waits.
    // In parallel: each keeper takes a node start (~0.5-1 s here) to record itself.
    await Promise.all(specsByName(this.ctx, names).map((spec) => startKeeper(this.file(spec), { nodeBin: this.ctx.nodeBin, cliMain: this.ctx.cliMain })));
  }

  async stop(names: readonly string[]): Promise<void> {
    await Promise.all(
      specsByName(this.ctx, names)
        .filter((s) => fs.existsSync(this.file(s)))
        .map((s) => stopKeeper(this.file(s))),
    );
  }

  async restart(names: readonly string[]): Promise<void> {
    await this.stop(names);
    await this.start(names);
  }

  async status(names: readonly string[]): Promise<UnitStatus[]> {
    return specsByName(this.ctx, names).map((spec) => {
      const st = readKeeperState(this.file(spec));
      const active = keeperAlive(this.file(spec), st);
      const pid = childAlive(st);
      return {
        name: spec.name,
        ...(spec.serviceId !== undefined ? { serviceId: spec.serviceId } : {}),
        active,
        ...(active && pid !== undefined && st?.phase === 'exec' ? { pid } : {}),
        ...(st ? { restarts: st.restarts } : {}),
        ...(active && st?.since !== undefined ? { since: st.since } : {}),
      };
    });
  }

  async killAll(names: readonly string[]): Promise<void> {
    await Promise.all(
      specsByName(this.ctx, names)
        .filter((s) => fs.existsSync(this.file(s)))
        .map((s) => killKeeper(this.file(s))),
    );
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** The longest stop a unit may take (MariaDB's 30 s grace) plus systemd's own bookkeeping. */
const STOP_BOUND_MS = 45_000;

export function systemdRunning(): boolean {
  // sd_booted()'s own test: this directory exists only when systemd is PID 1.
  return fs.existsSync('/run/systemd/system');
}

function pid1Name(): string {
  try {
    return fs.readFileSync('/proc/1/comm', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** `hosts.serviceManager`: `auto` picks systemd where it is PID 1, else the keeper. */
export function serviceManagerFor(setting: 'auto' | 'systemd' | 'hastack', ctx: ManagerContext): ServiceManager {
  if (setting === 'systemd' || (setting === 'auto' && systemdRunning())) {
    if (!systemdRunning()) {
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `hosts.serviceManager is "systemd" but systemd is not running on ${os.hostname()} (PID 1 is ${pid1Name()}); set hosts.serviceManager to auto or hastack`,
      );
    }
    return new SystemdManager(ctx);
  }
  const note =
    setting === 'auto'
      ? `no systemd on ${os.hostname()} (PID 1 is ${pid1Name()}): services run under hastack's keeper; they do not start at boot`
      : `hosts.serviceManager is "hastack": services run under hastack's keeper on ${os.hostname()}; they do not start at boot`;
  return new KeeperManager(ctx, note);
}
