/**
 * `npm run bench -- lb [--rounds N] [--seconds S] [--connections C]`
 *
 * hastack's load balancer against HAProxy and nginx, in the same sitting, interleaved, each a
 * single process/thread/worker in front of the same two backends, configured alike: keep-alive
 * upstreams, round robin, health checks on /readyz every 1 s (fall 2, rise 2), 1 s connect
 * timeout, 2 retries to another backend (redispatch). No access log for HAProxy and nginx; hastack
 * keeps its default sampled access log (1 in 100) at info, since that is how it runs.
 *
 * Fairness (checked 2026-11-29, interleaved in one sitting, medians of 4 × 5 s):
 * - HAProxy runs `nbthread 1`: the issue asks for a single load-balancer process, and one HAProxy
 *   thread against one Node process is the like-for-like anchor. With `nbthread 2` on these 2
 *   cores HAProxy gained ~7 % req/s but its p99 got worse (11.2 vs 8.5 ms): its second thread
 *   competes with wrk and the backends. So the anchor stays at 1 thread.
 * - Nothing is pinned, for any proxy: wrk, the backends and the proxy share both cores. Pinning the
 *   proxy to core 0 and wrk + backends to core 1 makes core 1 the bottleneck (HAProxy fell from
 *   ~17k to ~13.7k req/s and hastack came out ahead of it), which measures the pinning rather than
 *   the proxies.
 * - The same wrk (1 thread, `connections` keep-alive connections) for every proxy; every proxy
 *   keeps its upstream connections alive.
 * - With 64 connections wrk is a closed loop: latency ≈ connections / throughput, so a proxy at
 *   0.6× the throughput starts at ~1.6× the p50; the p99 ratio adds only the tail's own spread.
 *
 * Backends: two small node:http servers in their own processes (not the ERP app host: the
 * database would be the bottleneck and we measure the proxies), answering a 100-byte JSON body.
 *
 * Phase 1: `rounds` rounds; in each, every proxy (in rotated order) gets a 2 s warm-up and a
 * `seconds` wrk run (1 thread, `connections` connections). Prints requests/s, p50/p99, proxy CPU
 * per request (utime+stime of the proxy's processes from /proc), median and spread (min–max).
 * Phase 2: for each proxy, wrk for 6 s and a SIGKILL of one backend after 2 s; prints non-2xx,
 * socket errors and the maximum latency. The backend is restarted between proxies.
 * The last line is one JSON object (hastack's figures, medians).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { portOpen } from '../src/shared/net.js';
import { testRange } from '../kit/addresses.js';
import { benchCounts } from '../kit/bench.js';
import { processesWhere } from '../kit/proc.js';
import { BENCH_TOOLS, ensureTools } from '../kit/bench-tools.js';

const ADDR_BASE = testRange('bench-lb').base;
/** Backends and proxies use .101–.112 of the project's bench block, far from cluster nodes (.1–.13). */
const BACKENDS = [`${ADDR_BASE}.101`, `${ADDR_BASE}.102`] as const;
const BACKEND_PORT = 8000;
const PROXY_PORT = 8080;
const PROXIES = ['hastack', 'haproxy', 'nginx'] as const;
type ProxyName = (typeof PROXIES)[number];
const PROXY_ADDR: Record<ProxyName, string> = { hastack: `${ADDR_BASE}.110`, haproxy: `${ADDR_BASE}.111`, nginx: `${ADDR_BASE}.112` };
/** Health checks need rise 2 × 1 s to readmit a restarted backend; 4 s is that with slack. */
const READMIT_WAIT_MS = 4_000;
const WARMUP_S = 2;
const KILL_RUN_S = 6;
const KILL_AFTER_MS = 2_000;
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat times are in 1/100 s

const self = fileURLToPath(import.meta.url);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Child roles: a backend, or hastack's load balancer.

function runBackend(address: string, port: number): void {
  const body = JSON.stringify({ id: 1, sku: 'WIDGET-RED', name: 'Red widget', price: 1250, stock: 42, node: address, pad: 'xxxxxxxx' });
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // Above every proxy's upstream idle timeout, like the real app host (72 s).
  server.keepAliveTimeout = 72_000;
  server.listen(port, address);
}

async function runHastack(address: string): Promise<void> {
  const { parseConfig, resolveTopology, servicesOf } = await import('../src/config/index.js');
  const { startLb } = await import('../src/lb/index.js');
  const config = parseConfig({
    cluster: testRange('bench-lb').cluster,
    addressBase: ADDR_BASE,
    nodes: [
      { name: 'lb', address, services: ['lb'] },
      { name: 'app1', address: BACKENDS[0], services: ['app'] },
      { name: 'app2', address: BACKENDS[1], services: ['app'] },
      { name: 'data', address: `${ADDR_BASE}.120`, services: ['mariadb', 'redis'] },
    ],
    lb: { policy: 'round-robin', healthIntervalMs: 1000, healthTimeoutMs: 500, fall: 2, rise: 2, retries: 2 },
  });
  const topo = resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
  const svc = servicesOf(topo, 'lb')[0];
  if (svc === undefined) throw new Error('no lb service');
  const lb = await startLb(
    { topo, svc, asRoot: false, secrets: { redisPassword: 'b', sentinelPassword: 'b', dbRootPassword: 'b', dbAppPassword: 'b', dbReplPassword: 'b', sessionKey: 'b' } },
    { metricsPort: false },
  );
  process.on('SIGTERM', () => void lb.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------------------
// Proxies.

interface Proc {
  readonly child: ChildProcess;
  /** Pids whose CPU counts as the proxy's (nginx: master and worker). */
  pids(): number[];
}

function haproxyConfig(dir: string): string {
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    file,
    `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 60s
  option http-keep-alive
  retries 2
  retry-on conn-failure empty-response
  option redispatch 1
  http-reuse always
frontend fe
  bind ${PROXY_ADDR.haproxy}:${PROXY_PORT}
  default_backend be
backend be
  balance roundrobin
  option httpchk GET /readyz
  default-server inter 1s fall 2 rise 2
  server s1 ${BACKENDS[0]}:${BACKEND_PORT} check
  server s2 ${BACKENDS[1]}:${BACKEND_PORT} check
`,
  );
  return file;
}

function nginxConfig(dir: string): string {
  const file = path.join(dir, 'nginx.conf');
  const t = (n: string): string => path.join(dir, n);
  fs.writeFileSync(
    file,
    `worker_processes 1;
daemon off;
pid ${t('nginx.pid')};
error_log ${t('nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${t('nb')}; proxy_temp_path ${t('np')}; fastcgi_temp_path ${t('nf')}; uwsgi_temp_path ${t('nu')}; scgi_temp_path ${t('ns')};
  upstream be {
    server ${BACKENDS[0]}:${BACKEND_PORT} max_fails=2 fail_timeout=1s;
    server ${BACKENDS[1]}:${BACKEND_PORT} max_fails=2 fail_timeout=1s;
    keepalive 128;
    keepalive_timeout 60s;
  }
  server {
    listen ${PROXY_ADDR.nginx}:${PROXY_PORT};
    location / {
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
    }
  }
}
`,
  );
  return file;
}

/** Direct children of `pid` (nginx's workers). */
function childPids(pid: number): number[] {
  return processesWhere((p) => p.ppid === pid).map((p) => p.pid);
}

function startProxy(name: ProxyName, dir: string): Proc {
  let child: ChildProcess;
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  switch (name) {
    case 'hastack':
      child = spawn(process.execPath, [self, '--role', 'hastack', PROXY_ADDR.hastack], {
        stdio: ['ignore', log, log],
        env: { ...process.env, HASTACK_LOG_LEVEL: 'info' },
      });
      break;
    case 'haproxy':
      child = spawn('haproxy', ['-f', haproxyConfig(dir), '-db'], { stdio: ['ignore', log, log] });
      break;
    case 'nginx':
      child = spawn('nginx', ['-c', nginxConfig(dir), '-p', dir], { stdio: ['ignore', log, log] });
      break;
  }
  const pid = child.pid ?? 0;
  return { child, pids: () => [pid, ...childPids(pid)] };
}

function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      sum += Number(rest[11]) + Number(rest[12]);
    } catch {
      // a process that went away contributes nothing more
    }
  }
  return sum;
}

async function waitServing(url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { agent: false, timeout: 500 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// wrk.

interface WrkResult {
  readonly rps: number;
  readonly requests: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly non2xx: number;
  readonly socketErrors: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  const lat = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    // Anchored: the "+/- Stdev" column of the Latency line also ends in "%".
    p50Ms: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    p99Ms: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    maxMs: lat ? toMs(lat[3] ?? '') : Number.NaN,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors: se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  };
}

function wrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(parseWrk(out)) : reject(new Error(`wrk exited ${code}: ${out}`))));
  });
}

// ---------------------------------------------------------------------------------------------

interface Sample {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerReq: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const spread = (xs: readonly number[], digits: number): string => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

async function main(): Promise<void> {
  const { rounds, seconds, connections } = benchCounts({ rounds: 3, seconds: 8, connections: 64 });
  ensureTools('lb', [BENCH_TOOLS.wrk, BENCH_TOOLS.haproxy, BENCH_TOOLS.nginx]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-bench-lb-'));
  const backends = new Map<string, ChildProcess>();
  const startBackend = (address: string): void => {
    backends.set(address, spawn(process.execPath, [self, '--role', 'backend', address], { stdio: 'ignore' }));
  };
  // Something left listening on our addresses (an earlier run killed hard) would be measured
  // instead of the proxy we start: refuse to run.
  for (const [what, address, port] of [...BACKENDS.map((b) => ['backend', b, BACKEND_PORT] as const), ...PROXIES.map((p) => [p, PROXY_ADDR[p], PROXY_PORT] as const)]) {
    if (await portOpen(address, port)) {
      console.error(`bench lb: something already listens on ${address}:${port} (the ${what}'s address); stop it first`);
      process.exit(1);
    }
  }
  for (const b of BACKENDS) startBackend(b);
  const proxies = new Map<ProxyName, Proc>();
  let cleaned = false;
  /** TERM first (nginx's master then stops its workers; SIGKILL would orphan them), KILL after 2 s. */
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    const all = [...proxies.values()].flatMap((p) => p.pids());
    for (const p of proxies.values()) p.child.kill('SIGTERM');
    for (const b of backends.values()) b.kill('SIGKILL');
    await sleep(2_000);
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const samples = new Map<ProxyName, Sample[]>(PROXIES.map((p) => [p, []]));
  const kills = new Map<ProxyName, WrkResult>();
  let completed = false;
  try {
    for (const b of BACKENDS) await waitServing(`http://${b}:${BACKEND_PORT}/readyz`, 5_000);
    for (const name of PROXIES) proxies.set(name, startProxy(name, dir));
    for (const name of PROXIES) await waitServing(`http://${PROXY_ADDR[name]}:${PROXY_PORT}/`, 10_000);
    for (const [name, p] of proxies) {
      if (p.child.exitCode !== null) {
        console.error(`bench lb: ${name} exited at start (code ${p.child.exitCode}); see ${path.join(dir, `${name}.log`)}`);
        await cleanup();
        process.exit(1);
      }
    }
    // Every proxy has seen both backends healthy (rise 2 at 1 s).
    await sleep(READMIT_WAIT_MS);

    console.log(
      `bench lb: ${rounds} rounds × ${seconds} s, wrk -t1 -c${connections}, 2 node:http backends, ${os.cpus().length} cores; work dir ${dir} (removed after a complete run)`,
    );
    for (let r = 0; r < rounds; r++) {
      const order = PROXIES.map((_, i) => PROXIES[(i + r) % PROXIES.length] as ProxyName);
      for (const name of order) {
        const url = `http://${PROXY_ADDR[name]}:${PROXY_PORT}/api/items/1`;
        const proc = proxies.get(name) as Proc;
        await wrk(url, WARMUP_S, connections);
        const before = cpuTicks(proc.pids());
        const res = await wrk(url, seconds, connections);
        const cpuS = (cpuTicks(proc.pids()) - before) / CLK_TCK;
        const sample = { rps: res.rps, p50Ms: res.p50Ms, p99Ms: res.p99Ms, cpuUsPerReq: res.requests > 0 ? (cpuS * 1e6) / res.requests : Number.NaN };
        (samples.get(name) as Sample[]).push(sample);
        console.log(
          `  round ${r + 1} ${name.padEnd(8)} ${sample.rps.toFixed(0).padStart(7)} req/s  p50 ${sample.p50Ms.toFixed(2)} ms  p99 ${sample.p99Ms.toFixed(2)} ms  ${sample.cpuUsPerReq.toFixed(1)} µs CPU/req${res.non2xx + res.socketErrors > 0 ? `  (${res.non2xx} non-2xx, ${res.socketErrors} socket errors)` : ''}`,
        );
      }
    }

    const med = (p: ProxyName, k: keyof Sample): number => median((samples.get(p) as Sample[]).map((s) => s[k]));
    const haRps = med('haproxy', 'rps');
    const haP99 = med('haproxy', 'p99Ms');
    console.log('\nproxy     req/s (median, spread)      p50 ms        p99 ms             CPU µs/req     ×HAProxy req/s  ×HAProxy p99');
    for (const p of PROXIES) {
      const s = samples.get(p) as Sample[];
      console.log(
        `${p.padEnd(9)} ${med(p, 'rps').toFixed(0).padStart(6)} (${spread(
          s.map((x) => x.rps),
          0,
        )})`.padEnd(37) +
          `${med(p, 'p50Ms').toFixed(2).padStart(6)}        ${med(p, 'p99Ms').toFixed(2).padStart(6)} (${spread(
            s.map((x) => x.p99Ms),
            2,
          )})`.padEnd(34) +
          `${med(p, 'cpuUsPerReq').toFixed(1).padStart(6)}         ${(med(p, 'rps') / haRps).toFixed(2).padStart(5)}           ${(med(p, 'p99Ms') / haP99).toFixed(2).padStart(5)}`,
      );
    }

    // Phase 2: SIGKILL of one backend under load.
    console.log(`\nbackend SIGKILL under load (wrk ${KILL_RUN_S} s, kill after ${KILL_AFTER_MS / 1000} s):`);
    const victim = BACKENDS[1];
    for (const name of PROXIES) {
      const url = `http://${PROXY_ADDR[name]}:${PROXY_PORT}/api/items/1`;
      const run = wrk(url, KILL_RUN_S, connections);
      await sleep(KILL_AFTER_MS);
      backends.get(victim)?.kill('SIGKILL');
      const res = await run;
      kills.set(name, res);
      console.log(`  ${name.padEnd(8)} non-2xx ${res.non2xx}  socket errors ${res.socketErrors}  max latency ${res.maxMs.toFixed(1)} ms  (${res.rps.toFixed(0)} req/s)`);
      startBackend(victim);
      await waitServing(`http://${victim}:${BACKEND_PORT}/readyz`, 5_000);
      await sleep(READMIT_WAIT_MS);
    }
    completed = true;
  } finally {
    await cleanup();
    // The logs and configurations are kept only when something went wrong, to be read.
    if (completed) fs.rmSync(dir, { recursive: true, force: true });
  }

  const med = (p: ProxyName, k: keyof Sample): number => median((samples.get(p) as Sample[]).map((s) => s[k]));
  const haRps = med('haproxy', 'rps');
  const haP99 = med('haproxy', 'p99Ms');

  const k = kills.get('hastack') as WrkResult;
  const summary = {
    bench: 'lb',
    rounds,
    seconds,
    connections,
    throughputRatioVsHaproxy: Number((med('hastack', 'rps') / haRps).toFixed(3)),
    p99RatioVsHaproxy: Number((med('hastack', 'p99Ms') / haP99).toFixed(3)),
    killErrors: k.non2xx + k.socketErrors,
    killMaxLatencyMs: Number(k.maxMs.toFixed(1)),
    rps: Object.fromEntries(PROXIES.map((p) => [p, Math.round(med(p, 'rps'))])),
    rpsSpread: Object.fromEntries(
      PROXIES.map((p) => [
        p,
        spread(
          (samples.get(p) as Sample[]).map((x) => x.rps),
          0,
        ),
      ]),
    ),
    p99Ms: Object.fromEntries(PROXIES.map((p) => [p, Number(med(p, 'p99Ms').toFixed(2))])),
    cpuUsPerReq: Object.fromEntries(PROXIES.map((p) => [p, Number(med(p, 'cpuUsPerReq').toFixed(1))])),
    kill: Object.fromEntries(PROXIES.map((p) => [p, { non2xx: kills.get(p)?.non2xx, socketErrors: kills.get(p)?.socketErrors, maxMs: kills.get(p)?.maxMs }])),
  };
  console.log(JSON.stringify(summary));
}

const role = process.argv.indexOf('--role');
if (role >= 0) {
  const what = process.argv[role + 1];
  const address = process.argv[role + 2] ?? '';
  if (what === 'backend') runBackend(address, BACKEND_PORT);
  else if (what === 'hastack') await runHastack(address);
  else throw new Error(`unknown role ${what}`);
} else {
  try {
    await main();
  } catch (e) {
    console.error(`bench lb failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}
