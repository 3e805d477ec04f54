import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import type { Upstream } from './splice.js';

/**
 * The data path of an endpoint is HAProxy in TCP mode, driven over its runtime API; our process
 * only decides which server slot takes new connections. Why not our own splicer (splice.ts) for
 * every byte: measured on this 2-core machine (MariaDB point selects and Redis GET/SET, one
 * connection, 9,000 operations each, the four paths interleaved in one run), our Node splicer
 * cost 71-77 µs of CPU per round trip and took latency to 2.0-2.5× direct; HAProxy 2.6 cost
 * 14 µs per point select and stayed at 1.09-1.14× direct. The bound is 1.15×: only
 * HAProxy meets it. Our splicer still serves the rare connections that arrive while there is no
 * writer (the `hold` backup slot, below), where holding matters and speed does not.
 */
export interface HaproxyPlan {
  /** The proxy's name in the config and in runtime commands (`<name>/<server>`). */
  readonly name: string;
  readonly bindAddress: string;
  readonly bindPort: number;
  /** Every node this endpoint may ever send to, one server slot each, all starting in maintenance. */
  readonly servers: readonly Upstream[];
  /** Our holder (splice.ts) on loopback: the backup slot, used only while every server slot is in maintenance. */
  readonly holdPort: number;
  readonly maxConnections: number;
  readonly idleTimeoutS: number;
  /** Where the runtime API socket goes (mode 0600: it can change routing). */
  readonly socketPath: string;
}

/** The server name HAProxy uses for the holder slot (node names never contain `_`). */
const HOLD_SLOT = 'hold_';

/** haproxy.cfg for one endpoint. Pure. */
export function renderHaproxyConfig(p: HaproxyPlan): string {
  const lines = [
    '# Rendered by hastack (src/endpoints/haproxy.ts); rewritten at every start.',
    'global',
    // A few more than the listener's bound: the runtime API's own connections.
    `  maxconn ${p.maxConnections + 16}`,
    // One thread: an endpoint shares its node with the app; one thread carries tens of thousands
    // of round trips per second here, far beyond one node's app.
    '  nbthread 1',
    `  stats socket ${p.socketPath} mode 600 level admin`,
    '  stats timeout 10s',
    'defaults',
    '  mode tcp',
    // 500 ms to reach a node on a LAN (a connect there takes well under 1 ms). HAProxy waits
    // min(this, 1 s) before retrying a refused connect: with 2 s, a client reconnecting in the
    // ~300 ms before the follower notices a dead writer waited 1 s more (bench: 1,057 ms gap).
    '  timeout connect 500ms',
    `  timeout client ${p.idleTimeoutS}s`,
    `  timeout server ${p.idleTimeoutS}s`,
    // A node that refused between two probe rounds: one more try, possibly on another ready slot.
    '  retries 1',
    '  option redispatch',
    `listen ${p.name}`,
    `  bind ${p.bindAddress}:${p.bindPort}`,
    `  maxconn ${p.maxConnections}`,
    // Long-lived pooled connections: least connections spreads them; round robin would count
    // connections made, not held.
    '  balance leastconn',
    ...p.servers.map((s) => `  server ${s.id} ${s.host}:${s.port} disabled`),
    `  server ${HOLD_SLOT} 127.0.0.1:${p.holdPort} backup`,
    '',
  ];
  return lines.join('\n');
}

// 2 s for one runtime API exchange: it answers in microseconds; a stuck HAProxy must not hang the
// controller's loop.
const API_TIMEOUT_MS = 2_000;

/** One exchange on HAProxy's runtime API (commands separated by `;`); resolves with its answer. */
export function runtimeApi(socketPath: string, commands: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new HastackError(ErrorCode.ENGINE_START_FAILED, `HAProxy's runtime API at ${socketPath} did not answer in ${API_TIMEOUT_MS} ms`));
    }, API_TIMEOUT_MS);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('error', (e) => {
      clearTimeout(t);
      reject(new HastackError(ErrorCode.ENGINE_START_FAILED, `HAProxy's runtime API at ${socketPath}: ${e.message}`));
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    s.end(`${commands.join('; ')}\n`);
  });
}

/** The HAProxy child of one endpoint process: started with the config, killed with the process. */
export class HaproxyChild {
  #child: ChildProcess | undefined;
  #stopping = false;
  readonly #onExit = (): void => {
    this.#child?.kill('SIGKILL');
  };

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    /** Called when HAProxy exits while we did not stop it: the endpoint process ends, the supervisor restarts it. */
    private readonly onDeath: (code: number | null) => void,
  ) {}

  /** Writes the config, kills a HAProxy an earlier run of this endpoint left, starts it, waits for its socket. */
  async start(plan: HaproxyPlan): Promise<void> {
    const cfg = path.join(this.dir, 'haproxy.cfg');
    fs.writeFileSync(cfg, renderHaproxyConfig(plan), { mode: 0o600 });
    killLeftover(path.join(this.dir, 'haproxy.pid'), cfg);
    fs.rmSync(plan.socketPath, { force: true });
    // -db: foreground, in our process group (the supervisor's stop and a node kill reach it too).
    const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'inherit', 'inherit'] });
    this.#child = child;
    child.on('error', (e) => this.log.error({ err: e }, 'haproxy could not start (is the haproxy package installed?)'));
    child.on('exit', (code) => {
      if (!this.#stopping) this.onDeath(code);
    });
    // Uncaught exception or process.exit: never leave HAProxy holding the port.
    process.on('exit', this.#onExit);
    if (child.pid !== undefined) fs.writeFileSync(path.join(this.dir, 'haproxy.pid'), `${child.pid}\n`);
    // 10 s for HAProxy to parse a dozen lines and bind; it does in ~20 ms here.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      try {
        await runtimeApi(plan.socketPath, ['show info']);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new HastackError(ErrorCode.ENGINE_START_FAILED, `haproxy did not start for ${plan.name} (see its lines in service.log; config ${cfg})`);
  }

  stop(): void {
    this.#stopping = true;
    process.off('exit', this.#onExit);
    this.#child?.kill('SIGTERM');
  }
}

/**
 * An earlier run of this endpoint that was SIGKILLed alone may have left its HAProxy bound to the
 * port: kill it, but only if that pid still runs haproxy with our config file.
 */
function killLeftover(pidFile: string, cfg: string): void {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!(cmd.some((a) => a.endsWith('haproxy')) && cmd.includes(cfg))) return;
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // gone already
  }
  // Until it is gone (its port is free then); a SIGKILLed process goes within milliseconds.
  const until = Date.now() + 2_000;
  while (Date.now() < until && fs.existsSync(`/proc/${pid}`)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}
