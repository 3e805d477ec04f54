// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * `lb.vip` on real hosts: `hastack deploy` runs keepalived on both load-balancer hosts of a host
 * bed (test/helpers/hostbed.ts; keeper or systemd as PID 1 by HASTACK_BED_INIT), exactly one of
 * them holds the floating address, and losing the holder moves it: its keepalived SIGKILLed
 * alone, the host cut off the network (isolate), the host powered off. Each time a bounded loop
 * of plain HTTP GETs through the address (a new connection per request, never retried, 500 ms
 * each at most) counts what failed (and the same loop to the new holder's own address tells the
 * address's move apart from its load balancer finding a lost app server), and the address must
 * end on exactly one host with requests through it answering again. Beside them, a loop of GETs
 * as a browser makes them (`getAsBrowser`: one kept-alive connection, a browser's patience, and
 * its resend of a request whose reused connection reset before the answer) counts what a
 * browser's user would have seen. Twice: VRRPv2 with `advert_int 1` (the default) and VRRPv3
 * every 200 ms (`lb.vrrpVersion: 3`). The move times and failed requests are printed as a table,
 * never asserted; what is asserted is that no request through the address was refused: the new
 * holder's load balancer listened on it before it came (`ip_nonlocal_bind`, set by the keepalived
 * unit). Two hosts: `primary` (lb, app, mariadb, redis) and `standby` (lb, app); the requests ask
 * the app's `/healthz`, which needs neither database nor Redis. Addresses: 10.213.226.x, the
 * address `.100`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { hostStateDir, parseConfig, type ConfigInput } from '../../src/config/index.js';
import { waitFor } from '../../src/shared/retry.js';
import { testRange } from '../../kit/addresses.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { hostBedNames, startHostBed, type HostBed } from '../helpers/hostbed.js';

const run = promisify(execFile);
const range = testRange('hosts-vip');
const BASE = range.privateBase ?? '';
const VIP = `${BASE}.100`;
const LB_PORT = 8080;
const LBS = ['primary', 'standby'] as const;
type Lb = (typeof LBS)[number];
/**
 * A browser's request waits at least this long (Chromium has no response timeout of its own; the
 * bound keeps the loop bounded): far beyond a move, so its loop shows the pause a user sees.
 */
const BROWSER_TIMEOUT_MS = 20_000;
/** A request through the address waits at most this long: a holder that is gone does not answer SYNs. */
const REQUEST_TIMEOUT_MS = 500;
/** Between two requests of the loop (one at a time, each on a new connection). */
const REQUEST_GAP_MS = 10;
/** Bounds of one load loop: it runs for one holder loss. */
const LOAD_MAX_REQUESTS = 5_000;
const LOAD_MAX_MS = 60_000;
/** Generous bound for a move: 3 adverts of 1 s plus skew take ~3.5 s. */
const MOVE_TIMEOUT_MS = 20_000;
/** Requests that must answer in a row after a move: the service is back, not flickering. */
const BACK_IN_A_ROW = 10;

type Kind = 'keepalived SIGKILL' | 'isolated' | 'powered off';
interface Row {
  readonly setting: string;
  readonly kind: Kind;
  readonly from: Lb;
  readonly to: Lb;
  readonly moveMs: number;
  readonly backMs: number;
  readonly failed: number;
  /** What the failed requests got: `timeout`, a status, an errno. */
  readonly failures: string;
  readonly requests: number;
  /** Failed / sent of the same GETs to the new holder's own address over the same time. */
  readonly directFailed: string;
  /** The browser's loop through the address over the same time: failed / sent, and its longest request. */
  readonly browser: string;
}

/**
 * One GET of the app's `/healthz` through `host`: `ok` on a 200, else what it got. Without `agent`,
 * on a new connection and never retried (`getOnce`). With one, on its kept-alive connection, and
 * as a browser does (`getAsBrowser`): a request that went out on a reused connection which closed
 * or reset before the answer's headers goes out again once, on a new connection (Chromium's
 * `ShouldResendRequest`; the rule Node documents with `request.reusedSocket`). A connect that gets
 * no answer is retried by TCP itself (SYN retransmission), as for any client.
 */
function get(host: string, o: { timeoutMs: number; agent?: http.Agent; resent?: boolean }): Promise<{ ok: boolean; what: string }> {
  return new Promise((resolve) => {
    let answered = false;
    const req = http.get({ host, port: LB_PORT, path: '/healthz', agent: o.agent ?? false, headers: o.agent ? {} : { connection: 'close' }, timeout: o.timeoutMs }, (res) => {
      answered = true;
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, what: String(res.statusCode) }));
      res.on('error', () => resolve({ ok: false, what: 'cut' }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (!answered && o.resent !== true && req.reusedSocket && e.code !== 'timeout') resolve(get(host, { ...o, resent: true }));
      else resolve({ ok: false, what: e.code ?? 'error' });
    });
  });
}
const getOnce = (host: string): ReturnType<typeof get> => get(host, { timeoutMs: REQUEST_TIMEOUT_MS });
const getAsBrowser = (host: string, agent: http.Agent): ReturnType<typeof get> => get(host, { timeoutMs: BROWSER_TIMEOUT_MS, agent });

/** What failed requests got, counted: `timeout×2 ECONNRESET×1`. */
function tally(failed: ReadonlyArray<{ what: string }>): string {
  const kinds = new Map<string, number>();
  for (const f of failed) kinds.set(f.what, (kinds.get(f.what) ?? 0) + 1);
  return [...kinds].map(([k, n]) => `${k}×${n}`).join(' ');
}

/** A bounded loop of GETs through the address, one at a time, each result timed. */
class Load {
  readonly samples: Array<{ at: number; ms: number; ok: boolean; what: string }> = [];
  private stopped = false;
  private readonly done: Promise<void>;
  constructor(
    private readonly host: string,
    private readonly get: (host: string) => Promise<{ ok: boolean; what: string }> = getOnce,
  ) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    const end = Date.now() + LOAD_MAX_MS;
    while (!this.stopped && Date.now() < end && this.samples.length < LOAD_MAX_REQUESTS) {
      const at = Date.now();
      const got = await this.get(this.host);
      this.samples.push({ at, ms: Date.now() - at, ...got });
      await new Promise((r) => setTimeout(r, REQUEST_GAP_MS));
    }
  }
  /** Whether the last `n` requests all answered. */
  lastOk(n: number): boolean {
    const tail = this.samples.slice(-n);
    return tail.length === n && tail.every((s) => s.ok);
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

describe('lb.vip on hosts: keepalived moves the floating address when its holder is lost', { timeout: 8 * 60_000 }, () => {
  const dir = tempDir('vip');
  const configFile = path.join(dir, 'hastack.yaml');
  const names = hostBedNames(BASE);
  const rows: Row[] = [];
  const deploys: number[] = [];
  let bed: HostBed;
  const started = Date.now();

  const config = (lb: ConfigInput['lb'] = {}): ConfigInput => {
    const [p, s] = bed.hosts;
    if (!p || !s) throw new Error('the bed has two hosts');
    return {
      cluster: range.cluster,
      substrate: 'hosts',
      nodes: [
        { name: 'primary', address: p.address, ssh: p.sshTarget, services: ['lb', 'app', 'mariadb', 'redis'] },
        { name: 'standby', address: s.address, ssh: s.sshTarget, services: ['lb', 'app'] },
      ],
      hosts: { identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
      lb: { vip: VIP, ...lb },
    };
  };
  const deploy = async (cfg: ConfigInput): Promise<string> => {
    fs.writeFileSync(configFile, YAML.stringify(cfg));
    const t = Date.now();
    const r = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 300_000 });
    deploys.push(Date.now() - t);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return r.stdout;
  };

  /** The load-balancer hosts whose eth0 carries the address now (`skip`: a host that is off or cut off). */
  const holders = async (skip?: Lb): Promise<Lb[]> => {
    const out: Lb[] = [];
    for (const h of LBS) {
      if (h === skip) continue;
      const r = await run('ip', ['-n', `${names.nsPrefix}${h}`, '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { timeout: 5_000 });
      if (r.stdout.includes(` ${VIP}/`)) out.push(h);
    }
    return out;
  };
  const waitHolders = async (want: (hs: Lb[]) => boolean, what: string, skip?: Lb): Promise<Lb[]> => {
    let last: Lb[] = [];
    const ok = await waitFor(
      async () => {
        last = await holders(skip);
        return want(last) ? true : undefined;
      },
      { timeoutMs: MOVE_TIMEOUT_MS, intervalMs: 20 },
    );
    if (ok !== true) assert.fail(`${what}: holders are [${last.join(', ')}]\n${await keepalivedLogs()}`);
    return last;
  };
  /** Waits until the host's keepalived has run for 2 s or more (well past 3 adverts of 200 ms; one of 1 s is enough to hear the holder). */
  const settled = async (h: Lb): Promise<void> => {
    const kdir = path.posix.join(hostStateDir(parseConfig(config())), h, 'keepalived');
    const ok = await waitFor(
      async () => {
        const r = await bed.exec(h, `ps -o etimes= -p "$(cat ${kdir}/keepalived.pid)"`);
        return r.code === 0 && Number(r.stdout.trim()) >= 2 ? true : undefined;
      },
      { timeoutMs: MOVE_TIMEOUT_MS, intervalMs: 200 },
    );
    if (ok !== true) assert.fail(`${h}'s keepalived did not stay up\n${await keepalivedLogs()}`);
  };
  /** The end of each load balancer's keepalived log, for a failure's message. */
  const keepalivedLogs = async (): Promise<string> => {
    const out: string[] = [];
    for (const h of LBS) {
      const file = path.posix.join(hostStateDir(parseConfig(config())), h, 'keepalived', 'service.log');
      out.push(`--- ${h}: ${file}\n${(await bed.exec(h, `tail -n 25 ${file}`).catch((e: Error) => ({ stdout: e.message }))).stdout}`);
    }
    return out.join('\n');
  };
  const exactlyOne = async (what: string, skip?: Lb): Promise<Lb> => {
    const hs = await waitHolders((x) => x.length === 1, `${what}: exactly one holder`, skip);
    return hs[0] as Lb;
  };

  /**
   * Power off: the NIC first, then every process SIGKILLed as the bed does. The bed keeps a
   * powered-off host's network namespace, whose kernel would still answer for the address
   * keepalived left on eth0 (ARP, and a reset or a refusal from processes already dead); a
   * machine without power answers nothing, from its first instant.
   */
  const powerOff = async (h: Lb): Promise<void> => {
    await run('ip', ['-n', `${names.nsPrefix}${h}`, 'link', 'set', 'eth0', 'down'], { timeout: 5_000 });
    await bed.powerOff(h);
  };
  /** Power on: a machine boots with its own address only (the floating one was runtime state). */
  const boot = async (h: Lb): Promise<void> => {
    await run('ip', ['-n', `${names.nsPrefix}${h}`, 'addr', 'del', `${VIP}/24`, 'dev', 'eth0'], { timeout: 5_000 }).catch(() => undefined);
    await run('ip', ['-n', `${names.nsPrefix}${h}`, 'link', 'set', 'eth0', 'up'], { timeout: 5_000 });
    await bed.boot(h);
  };
  /** SIGKILL to every keepalived process of the host at once (main, VRRP child, checker), by their pid files. */
  const killKeepalived = async (h: Lb): Promise<void> => {
    const kdir = path.posix.join(hostStateDir(parseConfig(config())), h, 'keepalived');
    const r = await bed.exec(h, `kill -9 $(cat ${kdir}/keepalived.pid ${kdir}/vrrp.pid ${kdir}/checkers.pid 2>/dev/null)`);
    assert.equal(r.code, 0, `kill keepalived on ${h}: ${r.stderr}`);
  };

  /** One holder loss under load: the move, the failed requests, the service back. */
  const lose = async (setting: string, kind: Kind): Promise<void> => {
    const from = await exactlyOne(`${setting}, before "${kind}"`);
    const to = LBS.find((h) => h !== from) as Lb;
    // The other keepalived settled as BACKUP: right after a deploy restarted it, a holder's
    // keepalived restarted within 200 ms (systemd) wins the election again (higher priority,
    // shorter skew) before the other's first timer runs out, and the address does not move.
    await settled(to);
    const load = new Load(VIP);
    // The same GETs to the new holder's own address: what of the failures is not the address
    // moving but its load balancer finding out that an app server is gone.
    const direct = new Load(bed.hosts.find((h) => h.name === to)?.address ?? '');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const browser = new Load(VIP, (host) => getAsBrowser(host, agent));
    try {
      const warm = await waitFor(async () => (load.lastOk(5) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
      assert.equal(warm, true, `${setting}: requests through ${VIP} answer before "${kind}"`);
      const t0 = Date.now();
      if (kind === 'keepalived SIGKILL') await killKeepalived(from);
      else if (kind === 'isolated') await bed.isolate(from);
      else await powerOff(from);
      // The other host has the address (the lost one may still have it: cut off, or keepalived
      // not yet back to remove what its killed predecessor left).
      await waitHolders((hs) => hs.includes(to), `${setting}, "${kind}" of ${from}: the address moves to ${to}`);
      const moveMs = Date.now() - t0;
      if (kind === 'keepalived SIGKILL') {
        // The load runs on while its keepalived is restarted (keeper or systemd): that one starts
        // as BACKUP and removes the address its killed predecessor left, which the old holder's
        // load balancer served meanwhile: the clients' disruption spans both.
        await waitHolders((hs) => hs.length === 1 && hs[0] === to, `${setting}: after ${from}'s keepalived is back, only ${to} holds the address`);
      } else {
        assert.deepEqual(await holders(from), [to], `${setting}: while ${from} is ${kind === 'isolated' ? 'cut off' : 'off'}, ${to} holds the address`);
      }
      const back = await waitFor(async () => (load.lastOk(BACK_IN_A_ROW) ? true : undefined), { timeoutMs: MOVE_TIMEOUT_MS, intervalMs: 20 });
      await load.stop();
      await direct.stop();
      await browser.stop();
      assert.equal(back, true, `${setting}, "${kind}": requests through ${VIP} answer again`);
      const after = load.samples.filter((s) => s.at >= t0);
      const failed = after.filter((s) => !s.ok);
      const lastFail = failed.at(-1)?.at;
      const firstOkAfter = lastFail === undefined ? t0 : (after.find((s) => s.ok && s.at > lastFail)?.at ?? Date.now());
      const failures = tally(failed);
      const directAfter = direct.samples.filter((x) => x.at >= t0);
      const directFailed = `${directAfter.filter((x) => !x.ok).length} / ${directAfter.length}`;
      // A request of the browser's loop that was in flight at t0 counts too: it met the loss.
      const browsed = browser.samples.filter((x) => x.at + x.ms >= t0);
      const browserFailed = browsed.filter((x) => !x.ok);
      const browserRow = `${browserFailed.length} / ${browsed.length}${browserFailed.length > 0 ? ` (${tally(browserFailed)})` : ''}, longest ${Math.max(0, ...browsed.map((x) => x.ms))} ms`;
      const refused = [...failed, ...browserFailed].filter((x) => x.what === 'ECONNREFUSED');
      assert.equal(refused.length, 0, `${setting}, "${kind}": ${refused.length} requests through ${VIP} refused: ${to}'s load balancer did not listen on it when it came`);
      rows.push({ setting, kind, from, to, moveMs, backMs: firstOkAfter - t0, failed: failed.length, failures, requests: after.length, directFailed, browser: browserRow });
      // The lost holder comes back; the address stays where it went (nopreempt), or, after an
      // isolation, both held it meanwhile and VRRP leaves it with one of them.
      if (kind === 'isolated') {
        await bed.rejoin(from);
        await exactlyOne(`${setting}: ${from} rejoined`);
      } else if (kind === 'powered off') {
        await boot(from);
        await waitHolders((hs) => hs.length === 1 && hs[0] === to, `${setting}: ${from} booted, ${to} keeps the address`);
      }
    } finally {
      await load.stop();
      await direct.stop();
      await browser.stop();
      agent.destroy();
    }
  };

  before(async () => {
    bed = await startHostBed({ hosts: [...LBS], addressBase: BASE });
  });
  after(async () => {
    const table = [
      `\n--- lb.vip on hosts (bed init ${bed?.init ?? '?'}; ${Math.round((Date.now() - started) / 1000)} s, deploys ${deploys.map((d) => `${Math.round(d / 1000)} s`).join(' + ')}): holder lost under load, GETs through ${VIP} on new connections, ${REQUEST_TIMEOUT_MS} ms each, never retried`,
      'setting                 | holder lost by      | from -> to         | move (ms) | service back (ms) | failed / requests | failures seen | to the new holder directly: failed / requests | as a browser: failed / requests, longest',
      ...rows.map(
        (r) =>
          `${r.setting.padEnd(23)} | ${r.kind.padEnd(19)} | ${`${r.from} -> ${r.to}`.padEnd(18)} | ${String(r.moveMs).padStart(9)} | ${String(r.backMs).padStart(17)} | ${`${r.failed} / ${r.requests}`.padStart(17)} | ${r.failures.padEnd(13)} | ${r.directFailed.padEnd(45)} | ${r.browser}`,
      ),
      '',
    ];
    process.stdout.write(table.join('\n'));
    // No "hastack down": the bed's teardown SIGKILLs everything of its hosts (a minute saved).
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const settings: ReadonlyArray<{ name: string; lb: ConfigInput['lb']; conf: RegExp }> = [
    { name: 'VRRPv2, advert_int 1 s', lb: {}, conf: /^ {2}advert_int 1\n[\s\S]*auth_type PASS/m },
    { name: 'VRRPv3, 200 ms', lb: { vrrpVersion: 3, vipIntervalMs: 200 }, conf: /^ {2}version 3\n {2}advert_int 0\.2$/m },
  ];
  for (const s of settings) {
    it(`${s.name}: deployed, one holder; its keepalived SIGKILLed, then the holder isolated, then powered off: the address moves each time and the service comes back`, async () => {
      // The second deploy also brings back what the power-off stopped (the keeper does not start units at boot).
      const out = await deploy(config(s.lb));
      assert.match(out, /keepalived/);
      for (const h of LBS) {
        const conf = await bed.exec(h, 'cat /etc/keepalived/keepalived.conf');
        assert.match(conf.stdout, s.conf, `${h}'s keepalived.conf`);
        const nonlocal = await bed.exec(h, 'cat /proc/sys/net/ipv4/ip_nonlocal_bind');
        assert.equal(nonlocal.stdout.trim(), '1', `${h}: its load balancer may listen on ${VIP} before it comes`);
      }
      await exactlyOne(`${s.name}: after deploy`);
      for (const kind of ['keepalived SIGKILL', 'isolated', 'powered off'] as const) await lose(s.name, kind);
    });
  }
});
