import { execFile } from 'node:child_process';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { UnitSpec } from './units.js';

/**
 * systemd unit files for a UnitSpec, and `systemctl` control. Rendering is pure (golden tests in
 * systemd.test.ts); control shells out to systemctl.
 */

export const SYSTEMD_UNIT_DIR = '/etc/systemd/system';

function refuseNewline(s: string, what: string): void {
  if (/[\n\r\0]/.test(s)) throw new HastackError(ErrorCode.CONFIG_INVALID, `${what} contains a line break or NUL, which a systemd unit file cannot carry: ${JSON.stringify(s)}`);
}

/**
 * One word of ExecStart=: `%` is a specifier and `$` a variable reference in systemd's command
 * lines, so both are doubled; a word with blanks, quotes, backslashes or `;` (a command separator
 * when alone) is double-quoted with C-style escapes.
 */
export function quoteExecArg(arg: string): string {
  refuseNewline(arg, 'a command-line argument');
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && !/[\s"'\\;]/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function execLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new HastackError(ErrorCode.INTERNAL, 'a unit needs a command');
  return argv.map(quoteExecArg).join(' ');
}

/** `Environment="K=V"`: specifiers expanded, no `$` expansion; quotes and backslashes escaped. */
export function environmentLine(key: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new HastackError(ErrorCode.CONFIG_INVALID, `"${key}" is not a valid environment variable name`);
  refuseNewline(value, `environment variable ${key}`);
  const v = `${key}=${value}`.replace(/%/g, '%%').replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `Environment="${v}"`;
}

/** A path in a unit setting (WorkingDirectory=, StandardOutput=append:): specifiers escaped. */
function unitPath(p: string): string {
  refuseNewline(p, 'a path');
  if (/\s/.test(p)) throw new HastackError(ErrorCode.CONFIG_INVALID, `${p}: systemd unit paths with blanks are not supported; use hosts.stateDir without spaces`);
  return p.replace(/%/g, '%%');
}

/** Milliseconds as a systemd time span (`200ms`, `30s`). */
export function timeSpan(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

export function serviceFileName(spec: UnitSpec): string {
  return `${spec.name}.service`;
}

export function timerFileName(spec: UnitSpec): string {
  return `${spec.name}.timer`;
}

/**
 * An unprivileged service: its own user and group, no way back to root (setuid binaries, file
 * capabilities), the whole file system read-only but its own directory, a private /tmp, no
 * access to home directories. Only the capabilities the unit names (none, unless it binds a port
 * below 1024).
 */
function sandboxLines(spec: UnitSpec, user: string): string[] {
  if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new HastackError(ErrorCode.CONFIG_INVALID, `"${user}" is not a valid user name for User=`);
  const caps = spec.capabilities ?? [];
  const lines = [
    `User=${user}`,
    `Group=${user}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    // Files it makes (Redis's CONFIG REWRITE of a redis.conf holding passwords) are its alone.
    'UMask=0077',
    `ReadWritePaths=${(spec.writablePaths ?? []).map(unitPath).join(' ')}`,
    `CapabilityBoundingSet=${caps.join(' ')}`,
  ];
  if (caps.length > 0) lines.push(`AmbientCapabilities=${caps.join(' ')}`);
  return lines;
}

export function renderServiceUnit(spec: UnitSpec): string {
  const oneshot = spec.timer !== undefined;
  const lines = [
    '# Written by hastack (hastack deploy); changes here are overwritten by the next deploy.',
    '[Unit]',
    `Description=${spec.description.replace(/%/g, '%%')}`,
    'After=network-online.target',
    'Wants=network-online.target',
    // Never give up restarting (the keeper's rule too): a service that crashes in a loop is
    // visible in its log and in `hastack status`, and comes back once the cause is gone.
    'StartLimitIntervalSec=0',
  ];
  if (spec.conflicts && spec.conflicts.length > 0) lines.push(`Conflicts=${spec.conflicts.join(' ')}`);
  lines.push('', '[Service]', oneshot ? 'Type=oneshot' : 'Type=simple');
  for (const [k, v] of Object.entries(spec.env)) lines.push(environmentLine(k, v));
  lines.push(`WorkingDirectory=${unitPath(spec.cwd)}`);
  if (spec.user !== undefined) lines.push(...sandboxLines(spec, spec.user));
  // `+`: prepare runs as root, outside the sandbox (it renders configs, provisions the datadir,
  // installs firewall rules, then hands the service's directory to its user).
  if (spec.pre.length > 0) lines.push(`ExecStartPre=${spec.user !== undefined ? '+' : ''}${execLine(spec.pre)}`);
  lines.push(`ExecStart=${execLine(spec.exec)}`);
  if (!oneshot) {
    // A fixed delay: systemd 252 (Debian 12) has no RestartSteps= to grow it like the keeper's
    // backoff; StartLimitIntervalSec=0 above keeps it restarting however often it fails.
    lines.push('Restart=always', `RestartSec=${timeSpan(Math.round(spec.restartSec * 1000))}`);
  }
  lines.push(
    `TimeoutStartSec=${timeSpan(spec.startTimeoutMs)}`,
    `TimeoutStopSec=${timeSpan(spec.stopTimeoutMs)}`,
    // The whole process group gets SIGTERM (mariadbd's helpers, sh -c children), then SIGKILL;
    // `mixed` (a command app, which drains before it stops its command): SIGTERM to the main process only.
    `KillMode=${spec.killMode ?? 'control-group'}`,
    `LimitNOFILE=${spec.limits.nofile}`,
    `StandardOutput=append:${unitPath(spec.logFile)}`,
    `StandardError=append:${unitPath(spec.logFile)}`,
  );
  if (!oneshot) lines.push('', '[Install]', 'WantedBy=multi-user.target');
  return lines.join('\n') + '\n';
}

/** The .timer of a unit with a schedule (the backup); undefined for the others. */
export function renderTimerUnit(spec: UnitSpec): string | undefined {
  const t = spec.timer;
  if (!t) return undefined;
  const lines = [
    '# Written by hastack (hastack deploy); changes here are overwritten by the next deploy.',
    '[Unit]',
    `Description=${spec.description.replace(/%/g, '%%')} (timer)`,
    '',
    '[Timer]',
  ];
  if (t.kind === 'interval') {
    lines.push(`OnActiveSec=${t.onActiveSec}`, `OnUnitActiveSec=${t.onUnitActiveSec}`);
  } else {
    for (const c of t.onCalendar) lines.push(`OnCalendar=${c}`);
    // A run missed while the host was off happens at the next boot.
    lines.push('Persistent=true');
  }
  // systemd's default AccuracySec=1min lets a timer fire up to a minute late (to batch wakeups):
  // measured on the host bed, a `30s` schedule's first run came 7 s after its due time. One timer
  // per cluster costs nothing to wake on time.
  lines.push('AccuracySec=1s', `Unit=${serviceFileName(spec)}`, '', '[Install]', 'WantedBy=timers.target');
  return lines.join('\n') + '\n';
}

/** The unit files of one spec, by file name. */
export function unitFiles(spec: UnitSpec): Array<{ file: string; content: string }> {
  const files = [{ file: serviceFileName(spec), content: renderServiceUnit(spec) }];
  const timer = renderTimerUnit(spec);
  if (timer !== undefined) files.push({ file: timerFileName(spec), content: timer });
  return files;
}

/** The unit systemctl starts/stops for a spec: the timer for a scheduled one, else the service. */
export function controlledUnit(spec: UnitSpec): string {
  return spec.timer ? timerFileName(spec) : serviceFileName(spec);
}

// systemctl talks to PID 1 over D-Bus and answers within a second; starts are --no-block, so a
// minute is only reached by a stuck systemd. Stops pass their own bound (the units' stop timeout).
const SYSTEMCTL_TIMEOUT_MS = 60_000;

export interface SystemctlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function systemctl(args: readonly string[], timeoutMs = SYSTEMCTL_TIMEOUT_MS): Promise<SystemctlResult> {
  return new Promise((resolve) => {
    execFile('systemctl', [...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** systemctl that must succeed; the error names the command and systemd's words. */
export async function systemctlOk(args: readonly string[], timeoutMs = SYSTEMCTL_TIMEOUT_MS): Promise<string> {
  const r = await systemctl(args, timeoutMs);
  if (r.code !== 0) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `systemctl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}; see "journalctl -u ${args[args.length - 1] ?? ''}"`,
    );
  }
  return r.stdout;
}

/** `systemctl show -p MainPID,NRestarts,ActiveState,ActiveEnterTimestamp` of one unit. Pure parse. */
export function parseShow(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}
