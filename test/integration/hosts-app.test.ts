// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * The Python example (examples/python, the `simple` variant's shape) deployed with `hastack deploy`
 * to a three-host bed (test/helpers/hostbed.ts: `primary` and `standby` carry every service, `ops`
 * a third Sentinel and the controller), with HTTPS at the edge: `lb.tls.certificates` (a file
 * certificate of a CA made here, for the load balancers' addresses: the default) and
 * `lb.tls.acme` against pebble (Debian's ACME test server, started here on the bed bridge's .254,
 * which the hosts reach), whose TLS CA `acme.caFile` names and deploy ships. `redirectHttp` (the
 * default) and HSTS on. One bring-up:
 * - deploy from nothing: gunicorn (`app.command`), the worker (`worker.command`), `app.migrate`
 *   under the cluster lock, `app.dir` shipped (root:hastack-app, no access for others),
 *   `app.packages` in the preflight, the local endpoints on both servers, each HAProxy child under
 *   its service's own account; the certificate files and the ACME CA file on the load-balancer
 *   hosts 0600, owned by the load balancer's account;
 * - the ACME certificate for the service name served on port 443 by both load balancers
 *   (`openssl s_client`), the file certificate to clients naming no host;
 * - a write through each load balancer and a read through the other, over HTTPS with
 *   `curl --cacert` (pebble's root); plain HTTP answered 308; HSTS on HTTPS answers;
 * - a deploy of a changed `app.env` restarts the app servers one at a time, each drained first
 *   (its `/readyz` on the readiness port 503, then SIGTERM to gunicorn), under POSTs the load
 *   balancer may not retry: every one answered by an app server;
 * - `hastack env primary`, here and on the host (passwords masked);
 * - the crash plan over HTTPS: `chaos run server --then-failover --https` (the primary server
 *   SIGKILLed, `hastack failover` at once): 0 records lost or stored twice, 0 jobs lost.
 * Addresses: its row `hosts-app` (10.213.230.x; pebble on .254:14000/15000).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import YAML from 'yaml';
import { preset, type ConfigInput } from '../../src/config/index.js';
import { testRange } from '../../kit/addresses.js';
import { printChaosReport, REPO_ROOT, runCli, tempDir } from '../helpers/cli.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';
import { simpleOnBed } from '../helpers/hosts-config.js';

const run = promisify(execFile);
const R = testRange('hosts-app');
const BASE = R.privateBase ?? '';
const PEBBLE = `${BASE}.254`;
const NAME = 'records.hastack.test';
/** The files certificate's own name (the ACME one is for NAME). */
const FILES_NAME = 'files.records.hastack.test';
const HTTPS_PORT = 443;
const HTTP_PORT = 8080;
const EXAMPLE = path.join(REPO_ROOT, 'examples/python');
/** pebble's first order: account, order, HTTP-01 through the cluster's DNS, finalise; seconds, bounded at 150 s. */
const ISSUE_TIMEOUT_MS = 150_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const startedAt = Date.now();

describe('the Python example on three hosts with HTTPS (files + ACME): deploy, writes and reads over TLS, the crash plan', { timeout: 20 * 60_000 }, () => {
  const dir = tempDir('hosts-app');
  const configFile = path.join(dir, 'hastack.yaml');
  const f = (n: string): string => path.join(dir, n);
  let bed: HostBed | undefined;
  let pebble: Pebble | undefined;
  const lbs = (): string[] => (bed?.hosts ?? []).slice(0, 2).map((h) => h.address);

  async function openssl(...args: string[]): Promise<void> {
    await run('openssl', args, { timeout: 20_000 });
  }

  /** A CA of the test's own; pebble's HTTPS certificate (its address) and the load balancers' file certificate (their addresses and FILES_NAME). */
  async function makeCertificates(): Promise<void> {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await openssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=hastack hosts-app test CA');
    const leaf = async (name: string, san: string): Promise<void> => {
      await openssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
      fs.writeFileSync(f(`${name}.ext`), `subjectAltName=${san}\n`);
      await openssl(
        'x509',
        '-req',
        '-in',
        f(`${name}.csr`),
        '-CA',
        f('ca.pem'),
        '-CAkey',
        f('ca.key'),
        '-CAcreateserial',
        '-out',
        f(`${name}.crt`),
        '-days',
        '2',
        '-extfile',
        f(`${name}.ext`),
      );
    };
    await leaf('pebble', `IP:${PEBBLE}`);
    await leaf(FILES_NAME, [`DNS:${FILES_NAME}`, ...lbs().map((a) => `IP:${a}`)].join(','));
  }

  async function curlPebble(url: string): Promise<string> {
    const { stdout } = await run('curl', ['-sS', '--fail', '--max-time', '5', '--cacert', f('ca.pem'), url], { timeout: 10_000 });
    return stdout;
  }

  function config(): ConfigInput {
    const b = must(bed);
    const example = YAML.parse(fs.readFileSync(path.join(EXAMPLE, 'hastack.simple.yaml'), 'utf8')) as ConfigInput;
    const base = preset('simple');
    return simpleOnBed(b, R.cluster, {
      serviceName: NAME,
      // The example as it is, its files shipped from the checkout (app.dir is relative to hastack.yaml: here absolute).
      app: { ...example.app, dir: EXAMPLE },
      ...(example.worker ? { worker: example.worker } : {}),
      ...(example.chaos ? { chaos: example.chaos } : {}),
      ...(example.endpoints ? { endpoints: example.endpoints } : {}),
      ...(example.redis ? { redis: example.redis } : {}),
      failover: { ...base.failover, ...example.failover },
      lb: {
        ...base.lb,
        tls: {
          certificates: [{ certFile: f(`${FILES_NAME}.crt`), keyFile: f(`${FILES_NAME}.key`) }],
          acme: { directoryUrl: `https://${PEBBLE}:14000/dir`, email: 'ops@hastack.test', names: [NAME], caFile: f('ca.pem') },
          hsts: true,
        },
      },
    });
  }

  before(async () => {
    bed = await startHostBed({ hosts: ['primary', 'standby', 'ops'], addressBase: BASE });
    await makeCertificates();
    pebble = startPebble({
      dir,
      address: PEBBLE,
      certFile: f('pebble.crt'),
      keyFile: f('pebble.key'),
      httpPort: HTTP_PORT,
      tlsPort: HTTPS_PORT,
      // The cluster's DNS tier (on the primary) answers the service name with the load balancers.
      dnsServer: `${lbs()[0]}:5353`,
    });
    let up = false;
    for (let i = 0; i < 50 && !up; i++) {
      up = await curlPebble(`https://${PEBBLE}:14000/dir`).then(
        () => true,
        () => false,
      );
      if (!up) await sleep(200);
    }
    assert.ok(up, `pebble did not answer on ${PEBBLE}:14000: ${fs.readFileSync(f('pebble.log'), 'utf8')}`);
    fs.writeFileSync(configFile, YAML.stringify(config()));
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await pebble?.stop();
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`hosts-app: ${Math.round((Date.now() - startedAt) / 1000)} s in all`);
  });

  it('deploy from nothing: the command app, worker, migrate, app.dir, endpoints and TLS files on the hosts', async () => {
    const r = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 600_000 });
    process.stdout.write(`\n--- deploy:\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /shipping app\.dir/);
    assert.match(r.stdout, /migrations done/);
    const st = await runCli(['status', '--json', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    const s = JSON.parse(st.stdout) as { services: Array<{ node: string; service: string; healthy: boolean; pid: number | null; detail?: string }> };
    const row = (node: string, kind: string): { healthy: boolean; pid: number | null; detail?: string } | undefined =>
      s.services.find((x) => x.node === node && x.service === kind);

    for (const h of ['primary', 'standby']) {
      const e = must(bed);
      for (const k of ['app', 'worker', 'db-endpoint', 'db-read-endpoint', 'redis-endpoint', 'lb'])
        assert.equal(row(h, k)?.healthy, true, `${h}/${k}: ${JSON.stringify(row(h, k))}`);
      // app.dir: root's, read-only to the app's group, nothing for others.
      const modes = await e.exec(h, 'stat -c "%U:%G %a %n" /opt/hastack/app /opt/hastack/app/app.py');
      assert.match(modes.stdout, /root:hastack-app 750 \/opt\/hastack\/app\n/, modes.stdout);
      assert.match(modes.stdout, /root:hastack-app 640 \/opt\/hastack\/app\/app\.py/, modes.stdout);
      // What each unit's process started, and as whom: gunicorn and the worker under their
      // accounts, each endpoint's HAProxy under its own service's account, never root.
      const all = (await e.exec(h, 'ps -eo pid=,ppid=,user:32=,args=')).stdout
        .split('\n')
        .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), line: m[3] ?? '' }));
      /** `user args` of every process under the unit's main process (the keeper's or systemd's). */
      const children = (kind: string): string => {
        const under = new Set([row(h, kind)?.pid ?? -1]);
        for (let grew = true; grew;) {
          grew = false;
          for (const p of all) {
            if (!under.has(p.ppid) || under.has(p.pid)) continue;
            under.add(p.pid);
            grew = true;
          }
        }
        return all
          .filter((p) => under.has(p.pid))
          .map((p) => p.line)
          .join('\n');
      };
      assert.match(children('app'), /^hastack-app\s+.*gunicorn/m);
      assert.match(children('worker'), /^hastack-worker\s+.*worker\.py/m);
      for (const k of ['db-endpoint', 'db-read-endpoint', 'redis-endpoint']) {
        const c = children(k);
        console.log(`${h}/${k}: ${c}`);
        assert.match(c, new RegExp(`^hastack-${k}\\s+haproxy `, 'm'), `${h}/${k}'s HAProxy under its own account`);
      }
      // The certificate files and the ACME CA: the load balancer's account's alone.
      const tls = await e.exec(h, `stat -c "%U %a %n" /var/lib/hastack/${R.cluster}/lb-tls /var/lib/hastack/${R.cluster}/lb-tls/*`);
      assert.match(tls.stdout, /hastack-lb 700 \S+\/lb-tls\n/, tls.stdout);
      assert.match(tls.stdout, /hastack-lb 600 \S+\/lb-0\.key/, tls.stdout);
      assert.match(tls.stdout, /hastack-lb 600 \S+\/acme-ca\.pem/, tls.stdout);
    }
  });

  it("both load balancers serve pebble's certificate for the service name on 443, and the file certificate to clients naming no host", async () => {
    const issuer = async (lb: string, servername?: string): Promise<string> => {
      const sni = servername === undefined ? '-noservername' : `-servername ${servername}`;
      const { stdout } = await run(
        'sh',
        ['-c', `openssl s_client -connect ${lb}:${HTTPS_PORT} ${sni} </dev/null 2>/dev/null | openssl x509 -noout -issuer -subject -ext subjectAltName`],
        {
          timeout: 15_000,
        },
      ).catch(() => ({ stdout: '' }));
      return stdout;
    };
    for (const lb of lbs()) {
      const until = Date.now() + ISSUE_TIMEOUT_MS;
      let served = '';
      while (Date.now() < until) {
        served = await issuer(lb, NAME);
        if (/Pebble/i.test(served)) break;
        await sleep(1_000);
      }
      console.log(`${lb}:${HTTPS_PORT} -servername ${NAME}:\n${served}`);
      assert.match(served, /issuer=.*Pebble/i, `${lb} serves the ACME certificate for ${NAME}`);
      assert.match(served, new RegExp(`DNS:${NAME.replaceAll('.', '\\.')}`));
      const plain = await issuer(lb);
      assert.match(plain, /issuer=CN ?= ?hastack hosts-app test CA/, `${lb} serves the file certificate without SNI:\n${plain}`);
    }
  });

  it('a write through each load balancer and a read through the other, over HTTPS (curl --cacert); 308 on plain HTTP; HSTS', async () => {
    const root = await curlPebble(`https://${PEBBLE}:15000/roots/0`);
    fs.writeFileSync(f('root.pem'), root);
    const [a, b] = lbs();
    const https = async (lb: string, args: string[], urlPath: string): Promise<{ code: string; body: string; headers: string }> => {
      const { stdout } = await run(
        'curl',
        [
          '-sS',
          '--max-time',
          '10',
          '--cacert',
          f('root.pem'),
          '--resolve',
          `${NAME}:${HTTPS_PORT}:${lb}`,
          '-D',
          f('headers'),
          '-w',
          '\n%{http_code}',
          ...args,
          `https://${NAME}${urlPath}`,
        ],
        { timeout: 15_000 },
      );
      const i = stdout.lastIndexOf('\n');
      return { body: stdout.slice(0, i), code: stdout.slice(i + 1), headers: fs.readFileSync(f('headers'), 'utf8') };
    };
    for (const [via, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const key = `hosts-app-${via}`;
      const w = await https(must(via), ['-X', 'POST', '-H', 'content-type: application/json', '-H', `Idempotency-Key: ${key}`, '-d', `{"data":"over TLS via ${via}"}`], '/records');
      console.log(`POST via ${via}: ${w.code} ${w.body}`);
      assert.equal(w.code, '201', w.body);
      assert.match(w.headers, /strict-transport-security: max-age=31536000/i);
      let read = { code: '', body: '', headers: '' };
      for (let i = 0; i < 20; i++) {
        read = await https(must(other), [], `/records?key=${key}`);
        if (read.code === '200' && /"status":\s*"done"/.test(read.body)) break;
        await sleep(500);
      }
      console.log(`GET via ${other}: ${read.code} ${read.body}`);
      assert.equal(read.code, '200', read.body);
      assert.match(read.body, /"status":\s*"done"/, 'the worker completed its job');
    }
    const { stdout: redirect } = await run('curl', [
      '-sS',
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      '-H',
      `host: ${NAME}`,
      `http://${a}:${HTTP_PORT}/records`,
    ]);
    assert.match(redirect, new RegExp(`^308 https://${NAME.replaceAll('.', '\\.')}(:443)?/records$`), redirect);
  });

  it('a deploy that changes the app restarts its servers one at a time, each drained first: no request fails', async () => {
    const [a] = lbs();
    const agent = new Agent({ connect: { ca: fs.readFileSync(f('root.pem'), 'utf8'), servername: NAME }, keepAliveTimeout: 30_000 });
    const statuses = new Map<string, number>();
    let stop = false;
    /** A loop that ran out of its bound before the deploy ended (the restarts might have fallen after it). */
    let exhausted = 0;
    // POSTs without an Idempotency-Key: the app answers 400 to each, and the load balancer may
    // not send one again after a broken connection (it might have run), so any request an app
    // server dropped while stopping shows as a 502 here. Bounded: 200,000 requests or 3 minutes.
    // Each loop pauses 1 ms between requests, so on an idle fast machine (a CI runner) the count
    // bound still outlasts a deploy of a minute or more (30,000 without a pause ran out in 39 s).
    const loop = async (): Promise<void> => {
      const until = Date.now() + 180_000;
      for (let i = 0; !stop; i++) {
        if (i >= 100_000 || Date.now() > until) {
          exhausted++;
          return;
        }
        let key: string;
        try {
          const r = await request(`https://${a}:${HTTPS_PORT}/records`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json', host: NAME },
            body: '{"data":"x"}',
          });
          await r.body.dump();
          key = String(r.statusCode);
        } catch (e) {
          key = (e as NodeJS.ErrnoException).code ?? 'error';
        }
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        await sleep(1);
      }
    };
    const loops = [loop(), loop()];
    try {
      const edited = { ...config(), app: { ...config().app, env: { RECORDS_ROLL: '1' } } };
      fs.writeFileSync(configFile, YAML.stringify(edited));
      const r = await runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs: 600_000 });
      process.stdout.write(`\n--- deploy (app.env changed):\n${r.stdout}`);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /primary\/app: restarting/);
      assert.match(r.stdout, /standby\/app: restarting/);
    } finally {
      stop = true;
      await Promise.all(loops);
      await agent.close();
    }
    const seen = Object.fromEntries(statuses);
    console.log(`requests during the rolling restart: ${JSON.stringify(seen)}`);
    assert.ok((statuses.get('400') ?? 0) > 50, `the load ran: ${JSON.stringify(seen)}`);
    assert.equal(exhausted, 0, 'the load ran until the deploy was done');
    assert.deepEqual(Object.keys(seen), ['400'], `every request answered by an app server: ${JSON.stringify(seen)}`);
    const log = await must(bed).exec('primary', `grep -c 'draining: /readyz answers 503' /var/lib/hastack/${R.cluster}/primary/app/service.log`);
    assert.ok(Number(log.stdout.trim()) >= 1, 'the app server drained before it stopped');
  });

  it('hastack env primary, here and on the host: the contract, with the local endpoints and passwords masked', async () => {
    const r = await runCli(['env', 'primary', '-f', configFile], { cwd: dir, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    process.stdout.write(`\n--- hastack env primary:\n${r.stdout}`);
    const p = must(bed).hosts[0]?.address ?? '';
    assert.match(r.stdout, new RegExp(`^DATABASE_URL=.*@${p.replaceAll('.', '\\.')}:6033/`, 'm'));
    assert.match(r.stdout, new RegExp(`^REDIS_URL=.*@${p.replaceAll('.', '\\.')}:6380`, 'm'));
    assert.match(r.stdout, /^DB_PASSWORD=\*+$/m);
    // The same on the host itself, from the files deploy put there.
    const onHost = await must(bed).exec('primary', `/opt/hastack/bin/hastack env primary -f /var/lib/hastack/${R.cluster}/hastack.yaml --state-root /var/lib/hastack`);
    assert.equal(onHost.code, 0, onHost.stdout + onHost.stderr);
    assert.equal(onHost.stdout, r.stdout);
  });

  it('the crash plan over HTTPS: the primary server killed, hastack failover at once; 0 lost, 0 doubled, 0 jobs lost', async () => {
    const json = f('server.json');
    const res = await runCli(['chaos', 'run', 'server', '--then-failover', '--https', '--duration', '16', '--json', json, '-f', configFile], {
      cwd: dir,
      timeoutMs: 240_000,
      env: { NODE_EXTRA_CA_CERTS: f('root.pem') },
    });
    printChaosReport(res.stdout, 'server');
    assert.ok(fs.existsSync(json), `no report:\n${res.stdout}\n${res.stderr}`);
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown> & { crashPlan: { ok: boolean } | null };
    assert.equal(r.workload, 'records');
    assert.equal(r.crashPlan?.ok, true, `the failover failed:\n${res.stdout}`);
    assert.ok((r.ackedWrites as number) > 0, 'records were acknowledged');
    assert.equal(r.lostWrites, 0);
    assert.equal(r.duplicateWrites, 0);
    assert.equal(r.jobsLost, 0);
    assert.equal(res.code, 0, `a promise broke: ${JSON.stringify(r.promisesBroken)}\n${res.stdout}`);
  });
});

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('the host bed is not up (its before hook failed)');
  return v;
}
