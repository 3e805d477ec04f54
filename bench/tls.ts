/**
 * `npm run bench -- tls [--rounds N] [--seconds S] [--connections C] [--handshakeSeconds H] [--clients K]`
 *
 * hastack's load balancer against HAProxy, both terminating TLS with the same certificate (RSA
 * 2048, signed by a throwaway CA) in front of the same two node:http backends, in the same
 * sitting, interleaved per round. Configured alike: TLS 1.2–1.3, Mozilla "intermediate" ciphers,
 * session tickets on, keep-alive upstreams, round robin, health checks every 1 s, one
 * process/thread each (HAProxy `nbthread 1`: see bench/lb.ts for why that is the fair anchor).
 *
 * Per round and proxy:
 * - keep-alive: wrk (1 thread, `connections` connections, HTTPS) for `seconds`: requests/s, p99;
 * - full handshakes: `clients` parallel `openssl s_time -new` for `handshakeSeconds` (each
 *   connection a full TLS 1.3 handshake, then closed): connections/s;
 * - resumed handshakes: the same with `-reuse` (TLS 1.2 session resumption by ticket, which
 *   s_time drives reliably; TLS 1.3 resumption needs the ticket after the handshake, which
 *   s_time does not wait for).
 * wrk, openssl and the backends share the 2 cores with the proxy: read the ratios, not the
 * absolute figures. Table, then the last line is one JSON object.
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
import { BENCH_TOOLS, ensureTools } from '../kit/bench-tools.js';

const ADDR_BASE = testRange('bench-tls').base;
const BACKENDS = [`${ADDR_BASE}.101`, `${ADDR_BASE}.102`] as const;
const BACKEND_PORT = 8000;
const HTTPS_PORT = 8443;
const PROXIES = ['hastack', 'haproxy'] as const;
type ProxyName = (typeof PROXIES)[number];
const PROXY_ADDR: Record<ProxyName, string> = { hastack: `${ADDR_BASE}.110`, haproxy: `${ADDR_BASE}.111` };
/** Health checks need rise 2 × 1 s; 4 s is that with slack. */
const READMIT_WAIT_MS = 4_000;
const WARMUP_S = 2;

const self = fileURLToPath(import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Mozilla intermediate, as hastack's listener uses it (src/lb/tls/certs.ts).
const TLS12_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';
const TLS13_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

function runBackend(address: string): void {
  const body = JSON.stringify({ id: 1, sku: 'WIDGET-RED', name: 'Red widget', price: 1250, stock: 42, node: address, pad: 'xxxxxxxx' });
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.keepAliveTimeout = 72_000;
  server.listen(BACKEND_PORT, address);
}

async function runHastack(address: string, certFile: string, keyFile: string): Promise<void> {
  const { parseConfig, resolveTopology, servicesOf } = await import('../src/config/index.js');
  const { startLb } = await import('../src/lb/index.js');
  const config = parseConfig({
    cluster: testRange('bench-tls').cluster,
    addressBase: ADDR_BASE,
    nodes: [
      { name: 'lb', address, services: ['lb'] },
      { name: 'app1', address: BACKENDS[0], services: ['app'] },
      { name: 'app2', address: BACKENDS[1], services: ['app'] },
      { name: 'data', address: `${ADDR_BASE}.120`, services: ['mariadb', 'redis'] },
    ],
    ports: { https: HTTPS_PORT },
    lb: { policy: 'round-robin', healthIntervalMs: 1000, healthTimeoutMs: 500, fall: 2, rise: 2, retries: 2, tls: { certificates: [{ certFile, keyFile }], redirectHttp: false } },
  });
  const topo = resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
  const svc = servicesOf(topo, 'lb')[0];
  if (svc === undefined) throw new Error('no lb service');
  const lb = await startLb(
    {
      topo,
      svc,
      asRoot: false,
      secrets: {
        redisPassword: 'b',
        sentinelPassword: 'b',
        dbRootPassword: 'b',
        dbAppPassword: 'b',
        dbReplPassword: 'b',
        sessionKey: 'b',
        tlsTicketSecret: 'bench-ticket-secret-0123456789',
      },
    },
    { metricsPort: false },
  );
  process.on('SIGTERM', () => void lb.close().then(() => process.exit(0)));
}

function haproxyConfig(dir: string, pem: string): string {
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(
    file,
    `global
  nbthread 1
  maxconn 4096
  ssl-default-bind-ciphers ${TLS12_CIPHERS}
  ssl-default-bind-ciphersuites ${TLS13_SUITES}
  ssl-default-bind-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048
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
  bind ${PROXY_ADDR.haproxy}:${HTTPS_PORT} ssl crt ${pem} alpn http/1.1 ssl-min-ver TLSv1.2
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

interface WrkResult {
  readonly rps: number;
  readonly p99Ms: number;
  readonly errors: number;
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}

function collect(cmd: string, args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

async function wrk(url: string, seconds: number, connections: number): Promise<WrkResult> {
  const { code, out } = await collect('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', url]);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${out}`);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p99Ms: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}

/** `clients` parallel `openssl s_time` runs: handshakes per second over all of them. */
async function handshakes(address: string, seconds: number, clients: number, ca: string, resumed: boolean): Promise<number> {
  const args = ['s_time', '-connect', `${address}:${HTTPS_PORT}`, '-CAfile', ca, '-time', String(seconds), ...(resumed ? ['-reuse', '-tls1_2'] : ['-new'])];
  const runs = await Promise.all(Array.from({ length: clients }, () => collect('openssl', args)));
  let total = 0;
  for (const r of runs) {
    // "NNN connections in S real seconds" (s_time prints it once per mode it ran).
    const m = /(\d+) connections in (\d+) real seconds/.exec(r.out);
    if (m === null) throw new Error(`openssl s_time printed no result: ${r.out.slice(0, 500)}`);
    total += Number(m[1]) / Math.max(1, Number(m[2]));
  }
  return total;
}

async function waitServing(url: string, timeoutMs: number, ca: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await collect('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, '--max-time', '1', url]);
    if (r.out === '200') return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

interface Sample {
  readonly rps: number;
  readonly p99Ms: number;
  readonly full: number;
  readonly resumed: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const spread = (xs: readonly number[], digits: number): string => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

async function main(): Promise<void> {
  const { rounds, seconds, connections, handshakeSeconds, clients } = benchCounts({ rounds: 3, seconds: 8, connections: 64, handshakeSeconds: 5, clients: 4 });
  ensureTools('tls', [BENCH_TOOLS.wrk, BENCH_TOOLS.haproxy, BENCH_TOOLS.openssl, BENCH_TOOLS.curl]);
  for (const [what, address, port] of [...BACKENDS.map((b) => ['backend', b, BACKEND_PORT] as const), ...PROXIES.map((p) => [p, PROXY_ADDR[p], HTTPS_PORT] as const)]) {
    if (await portOpen(address, port)) {
      console.error(`bench tls: something already listens on ${address}:${port} (the ${what}'s address); stop it first`);
      process.exit(1);
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-bench-tls-'));
  const { makeTestCa, makeTestCert } = await import('../src/lb/index.js');
  const ca = makeTestCa(path.join(dir, 'ca'), 'hastack bench CA');
  // RSA 2048: what most sites serve, and what makes a full handshake cost what it costs.
  const cert = makeTestCert(
    ca,
    'bench',
    PROXIES.map((p) => `IP:${PROXY_ADDR[p]}`),
    { rsa: true },
  );
  const pem = path.join(dir, 'haproxy.pem');
  fs.writeFileSync(pem, fs.readFileSync(cert.certFile, 'utf8') + fs.readFileSync(cert.keyFile, 'utf8'), { mode: 0o600 });

  const children: ChildProcess[] = [];
  const log = fs.openSync(path.join(dir, 'bench.log'), 'a');
  for (const b of BACKENDS) children.push(spawn(process.execPath, [self, '--role', 'backend', b], { stdio: 'ignore' }));
  const proxies = new Map<ProxyName, ChildProcess>([
    [
      'hastack',
      spawn(process.execPath, [self, '--role', 'hastack', PROXY_ADDR.hastack, cert.certFile, cert.keyFile], {
        stdio: ['ignore', log, log],
        env: { ...process.env, HASTACK_LOG_LEVEL: 'info' },
      }),
    ],
    ['haproxy', spawn('haproxy', ['-f', haproxyConfig(dir, pem), '-db'], { stdio: ['ignore', log, log] })],
  ]);
  children.push(...proxies.values());
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) c.kill('SIGTERM');
    await sleep(1_500);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const samples = new Map<ProxyName, Sample[]>(PROXIES.map((p) => [p, []]));
  let completed = false;
  try {
    for (const p of PROXIES) await waitServing(`https://${PROXY_ADDR[p]}:${HTTPS_PORT}/`, 15_000, ca.crt);
    await sleep(READMIT_WAIT_MS);
    console.log(
      `bench tls: ${rounds} rounds; keep-alive wrk -t1 -c${connections} ${seconds} s; handshakes ${clients} × openssl s_time ${handshakeSeconds} s (full: -new, TLS 1.3; resumed: -reuse, TLS 1.2 tickets); RSA 2048; ${os.cpus().length} cores; work dir ${dir}`,
    );
    for (let r = 0; r < rounds; r++) {
      const order = PROXIES.map((_, i) => PROXIES[(i + r) % PROXIES.length] as ProxyName);
      for (const name of order) {
        const url = `https://${PROXY_ADDR[name]}:${HTTPS_PORT}/api/items/1`;
        await wrk(url, WARMUP_S, connections);
        const ka = await wrk(url, seconds, connections);
        const full = await handshakes(PROXY_ADDR[name], handshakeSeconds, clients, ca.crt, false);
        const resumed = await handshakes(PROXY_ADDR[name], handshakeSeconds, clients, ca.crt, true);
        const s: Sample = { rps: ka.rps, p99Ms: ka.p99Ms, full, resumed };
        (samples.get(name) as Sample[]).push(s);
        console.log(
          `  round ${r + 1} ${name.padEnd(8)} ${s.rps.toFixed(0).padStart(7)} req/s  p99 ${s.p99Ms.toFixed(2)} ms  full ${s.full.toFixed(0)} hs/s  resumed ${s.resumed.toFixed(0)} hs/s${ka.errors > 0 ? `  (${ka.errors} errors)` : ''}`,
        );
      }
    }
    completed = true;
  } finally {
    await cleanup();
    if (completed) fs.rmSync(dir, { recursive: true, force: true });
  }
  const med = (p: ProxyName, k: keyof Sample): number => median((samples.get(p) as Sample[]).map((s) => s[k]));
  const ratio = (k: keyof Sample): number => Number((med('hastack', k) / med('haproxy', k)).toFixed(3));
  console.log('\nproxy     keep-alive req/s (spread)    p99 ms (spread)        full hs/s (spread)     resumed hs/s (spread)');
  for (const p of PROXIES) {
    const s = samples.get(p) as Sample[];
    const col = (k: keyof Sample, d: number): string =>
      `${med(p, k).toFixed(d)} (${spread(
        s.map((x) => x[k]),
        d,
      )})`;
    console.log(`${p.padEnd(9)} ${col('rps', 0).padEnd(29)}${col('p99Ms', 2).padEnd(23)}${col('full', 0).padEnd(23)}${col('resumed', 0)}`);
  }
  console.log(`×HAProxy  ${ratio('rps').toFixed(2).padEnd(29)}${ratio('p99Ms').toFixed(2).padEnd(23)}${ratio('full').toFixed(2).padEnd(23)}${ratio('resumed').toFixed(2)}`);
  console.log(
    JSON.stringify({
      bench: 'tls',
      throughputRatioVsHaproxy: ratio('rps'),
      p99RatioVsHaproxy: ratio('p99Ms'),
      handshakeRatioVsHaproxy: ratio('full'),
      resumedHandshakeRatioVsHaproxy: ratio('resumed'),
    }),
  );
}

const role = process.argv.indexOf('--role');
if (role >= 0) {
  const what = process.argv[role + 1];
  const address = process.argv[role + 2] ?? '';
  if (what === 'backend') runBackend(address);
  else if (what === 'hastack') await runHastack(address, process.argv[role + 3] ?? '', process.argv[role + 4] ?? '');
  else throw new Error(`unknown role ${what}`);
} else {
  try {
    await main();
  } catch (e) {
    console.error(`bench tls failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}
