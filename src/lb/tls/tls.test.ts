/**
 * The HTTPS listener with real clients (openssl s_client, curl, node:https) against two load
 * balancers of one cluster, no engines: protocol versions, SNI, session resumption on the OTHER
 * load balancer (also with the previous period's ticket key), headers to the app, the HTTP
 * redirect, a certificate replaced under load, and bad certificates as config errors.
 * (Smuggling and slowloris over TLS: src/lb/edge.test.ts runs its attacks on both listeners.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseConfig, resolveTopology, servicesOf, type ConfigInput, type Secrets } from '../../config/index.js';
import type { ServiceContext } from '../../registry/index.js';
import { ConfigError } from '../../shared/errors.js';
import { startLb, type RunningLb } from '../index.js';
import { loadCertificate, loadCertificateFiles } from './certs.js';
import { makeTestCa, makeTestCert, type TestCa } from './test-certs.js';
import { periodOf } from './tickets.js';

process.env.HASTACK_LOG_LEVEL ??= 'silent';

const SECRETS: Secrets = {
  redisPassword: 't',
  sentinelPassword: 't',
  dbRootPassword: 't',
  dbAppPassword: 't',
  dbReplPassword: 't',
  sessionKey: 't',
  tlsTicketSecret: 'a-test-ticket-secret-of-enough-length',
};
/** Test-only bound for one openssl or curl run on loopback. */
const CLIENT_TIMEOUT_MS = 15_000;

interface Run {
  readonly code: number | null;
  readonly out: string;
}

function run(cmd: string, args: readonly string[], input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
    p.stdin.end(input);
  });
}

/** `openssl s_client` sending one request and waiting for the close, so TLS 1.3 tickets arrive. */
function sClient(address: string, port: number, ca: string, extra: readonly string[]): Promise<Run> {
  return run(
    'openssl',
    ['s_client', '-connect', `${address}:${port}`, '-CAfile', ca, '-verify_return_error', '-ign_eof', ...extra],
    'GET /s HTTP/1.1\r\nHost: a.tls.test\r\nConnection: close\r\n\r\n',
  );
}

/** Waits (bounded) until `cond` holds; fails naming `what` otherwise. */
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const protocolOf = (r: Run): string | undefined => /(?:New|Reused), (TLSv[\d.]+),/.exec(r.out)?.[1];
const reused = (r: Run): boolean => /^Reused, TLSv/m.test(r.out);
const subjectOf = (r: Run): string | undefined => /^subject=.*CN ?= ?([^\s,]+)/m.exec(r.out)?.[1];

/** A backend that records the forwarding headers of every request. */
class App {
  readonly seen: http.IncomingHttpHeaders[] = [];
  readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url !== '/readyz') this.seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => resolve());
    });
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

interface Pair {
  readonly lbs: RunningLb[];
  readonly addresses: string[];
  readonly app: App;
  close(): Promise<void>;
}

/** Two load balancers and one app on `base`.{first, first+1, first+2}, HTTPS on 8443. */
async function startPair(base: string, first: number, tlsCfg: NonNullable<NonNullable<ConfigInput['lb']>['tls']>, o: { now?: () => number } = {}): Promise<Pair> {
  const a = (n: number): string => `${base}.${first + n}`;
  const config = parseConfig({
    cluster: 'tlsunit',
    addressBase: base,
    nodes: [
      { name: 'lb1', address: a(0), services: ['lb'] },
      { name: 'lb2', address: a(1), services: ['lb'] },
      { name: 'app1', address: a(2), services: ['app', 'mariadb', 'redis'] },
    ],
    lb: { healthIntervalMs: 200, healthTimeoutMs: 150, fall: 2, rise: 1, tls: tlsCfg },
  });
  const topo = resolveTopology(config, { stateRoot: os.tmpdir(), configDir: os.tmpdir() });
  const app = new App();
  const appSvc = servicesOf(topo, 'app')[0];
  assert.ok(appSvc);
  await app.listen(appSvc.address, appSvc.port);
  const lbs: RunningLb[] = [];
  for (const svc of servicesOf(topo, 'lb')) {
    const ctx: ServiceContext = { topo, secrets: SECRETS, svc, asRoot: false };
    lbs.push(await startLb(ctx, { metricsPort: 0, ...(o.now !== undefined ? { tls: { now: o.now } } : {}) }));
  }
  return {
    lbs,
    addresses: servicesOf(topo, 'lb').map((s) => s.address),
    app,
    close: async () => {
      for (const lb of lbs) await lb.close();
      await app.close();
    },
  };
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('HTTPS at the edge', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tls-'));
  let ca: TestCa;
  let pair: Pair;
  let certA: { certFile: string; keyFile: string };
  const BASE = '127.0.223';

  before(async () => {
    ca = makeTestCa(path.join(root, 'ca'));
    certA = makeTestCert(ca, 'a', ['DNS:a.tls.test', `IP:${BASE}.1`, `IP:${BASE}.2`]);
    const certB = makeTestCert(ca, 'b', ['DNS:b.tls.test']);
    pair = await startPair(BASE, 1, { certificates: [certA, certB], hsts: true });
  });

  after(async () => {
    await pair?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('refuses TLS 1.1, accepts TLS 1.2 and 1.3, and counts the refusal in /metrics', async () => {
    const [address] = pair.addresses;
    assert.ok(address);
    // SECLEVEL=0 so that the client itself is willing to offer TLS 1.1: the refusal is the server's.
    const old = await sClient(address, 8443, ca.crt, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
    assert.notEqual(old.code, 0);
    assert.equal(protocolOf(old), undefined, old.out);
    assert.match(old.out, /protocol version|no protocols available|unsupported protocol/i);
    for (const [flag, want] of [
      ['-tls1_2', 'TLSv1.2'],
      ['-tls1_3', 'TLSv1.3'],
    ] as const) {
      const r = await sClient(address, 8443, ca.crt, [flag, '-servername', 'a.tls.test']);
      assert.equal(protocolOf(r), want, r.out.slice(0, 2000));
      assert.match(r.out, /Verify return code: 0 \(ok\)/);
    }
    const metrics = await getText(pair.lbs[0]?.metricsUrl ?? '');
    assert.match(metrics, /hastack_lb_tls_handshake_failures_total\{reason="protocol-version",lb="lb1\/lb"\} [1-9]/);
    assert.match(metrics, /hastack_lb_tls_handshakes_total\{resumed="false",lb="lb1\/lb"\} [1-9]/);
    assert.match(metrics, /hastack_lb_tls_certificate_expiry_seconds\{slot="files",name="a.tls.test",lb="lb1\/lb"\} \d+/);
  });

  it('chooses the certificate by SNI; the first is the default', async () => {
    const [address] = pair.addresses;
    assert.ok(address);
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-servername', 'b.tls.test'])), 'b');
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-servername', 'a.tls.test'])), 'a');
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-servername', 'unknown.tls.test'])), 'a');
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-noservername'])), 'a');
  });

  for (const version of ['-tls1_2', '-tls1_3']) {
    it(`resumes a session (${version}) on the OTHER load balancer`, async () => {
      const [one, two] = pair.addresses;
      assert.ok(one && two);
      const sess = path.join(root, `sess${version}`);
      const first = await sClient(one, 8443, ca.crt, [version, '-servername', 'a.tls.test', '-sess_out', sess]);
      assert.equal(reused(first), false);
      const second = await sClient(two, 8443, ca.crt, [version, '-servername', 'a.tls.test', '-sess_in', sess]);
      assert.ok(reused(second), `not resumed on the other load balancer:\n${second.out.slice(0, 1500)}`);
    });
  }

  it('tells the app the client came over TLS, adds HSTS, and redirects plain HTTP (not ACME challenges nor /-/)', async () => {
    const [address] = pair.addresses;
    assert.ok(address);
    pair.app.seen.length = 0;
    const r = await run('curl', ['-sS', '-i', '--cacert', ca.crt, '--resolve', `a.tls.test:8443:${address}`, 'https://a.tls.test:8443/who']);
    assert.match(r.out, /^HTTP\/1\.1 200/m);
    assert.match(r.out, /^strict-transport-security: max-age=31536000\r?$/m);
    const h = pair.app.seen.at(-1);
    assert.equal(h?.['x-forwarded-proto'], 'https');
    assert.match(String(h?.forwarded), /^for=127\.\d+\.\d+\.\d+;proto=https$/);
    const plain = await run('curl', ['-sS', '-i', `http://${address}:8080/who?x=1`]);
    assert.match(plain.out, /^HTTP\/1\.1 308/m);
    assert.match(plain.out, new RegExp(`^location: https://${address.replace(/\./g, '\\.')}:8443/who\\?x=1\\r?$`, 'm'));
    assert.doesNotMatch(plain.out, /strict-transport-security/i);
    const challenge = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://${address}:8080/.well-known/acme-challenge/tok`]);
    assert.equal(challenge.out, '200', 'the challenge path went to the app, not to a redirect');
    const health = await run('curl', ['-sS', `http://${address}:8080/-/healthz`]);
    // What `hastack status` shows per load balancer: the certificate that expires first.
    assert.match(health.out, /"ok":true,"status":"https :8443: (a|b)\.tls\.test until \d{4}-\d\d-\d\d \(\+1 more\)"/);
  });

  it('serves a replaced certificate to new handshakes while a load loop sees no failure', async () => {
    const [address] = pair.addresses;
    assert.ok(address);
    const lb = pair.lbs[0];
    assert.ok(lb?.certificates);
    const fresh = makeTestCert(ca, 'a2', ['DNS:a.tls.test', `IP:${BASE}.1`, `IP:${BASE}.2`]);
    const freshFp = loadCertificateFiles({ key: 't', ...fresh }, lb.certificates.protocol).fingerprint256;
    // A keep-alive connection made before the change, used after it: it keeps its certificate.
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(ca.crt) });
    const viaAgent = (): Promise<{ status: number; fp: string }> =>
      new Promise((resolve, reject) => {
        https
          .get({ host: address, port: 8443, path: '/ka', agent, servername: 'a.tls.test' }, (res) => {
            const fp = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, fp }));
          })
          .on('error', reject);
      });
    const before = await viaAgent();
    // The load: new connections (a full handshake each) in a bounded loop, 4 at a time.
    let failures = 0;
    let sawNewAt: number | undefined;
    let changedAt = 0;
    let stop = false;
    const one = (): Promise<void> =>
      new Promise((resolve) => {
        https
          .get({ host: address, port: 8443, path: '/load', agent: false, ca: fs.readFileSync(ca.crt), servername: 'a.tls.test' }, (res) => {
            const fp = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
            if (fp === freshFp && sawNewAt === undefined && changedAt > 0) sawNewAt = Date.now();
            res.resume();
            res.on('end', () => {
              if (res.statusCode !== 200) failures += 1;
              resolve();
            });
          })
          .on('error', () => {
            failures += 1;
            resolve();
          });
      });
    const worker = async (): Promise<number> => {
      let n = 0;
      // Bounded: at most 2000 requests per worker, and it stops once the test says so.
      while (!stop && n < 2000) {
        await one();
        n += 1;
      }
      return n;
    };
    const workers = [worker(), worker(), worker(), worker()];
    await new Promise((r) => setTimeout(r, 300));
    // The file on disk is replaced in place (cert and key renamed over the configured ones).
    fs.copyFileSync(fresh.keyFile, `${certA.keyFile}.new`);
    fs.copyFileSync(fresh.certFile, `${certA.certFile}.new`);
    changedAt = Date.now();
    fs.renameSync(`${certA.keyFile}.new`, certA.keyFile);
    fs.renameSync(`${certA.certFile}.new`, certA.certFile);
    await until(() => sawNewAt !== undefined, 10_000, 'a new handshake with the new certificate');
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    const counts = await Promise.all(workers);
    const after = await viaAgent();
    agent.destroy();
    console.log(`# certificate file replaced: new handshakes saw it after ${(sawNewAt ?? 0) - changedAt} ms; ${counts.reduce((x, y) => x + y, 0)} requests, ${failures} failed`);
    assert.equal(failures, 0);
    assert.equal(after.status, 200);
    assert.equal(after.fp, before.fp, 'the connection made before the change keeps its certificate');
    assert.notEqual(before.fp, freshFp);
    // The runtime API (ACME renewals): a slot of its own, served to the names it carries.
    const c = makeTestCert(ca, 'c', ['DNS:c.tls.test']);
    lb.certificates.replace('acme', [
      { pem: { cert: fs.readFileSync(c.certFile, 'utf8'), key: fs.readFileSync(c.keyFile, 'utf8') }, source: { key: 'acme', certFile: 'acme:c.tls.test' } },
    ]);
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-servername', 'c.tls.test'])), 'c');
    // Bad input through the API changes nothing.
    assert.throws(() => lb.certificates?.replace('acme', [{ pem: { cert: 'junk', key: 'junk' }, source: { key: 'acme', certFile: 'acme:bad' } }]), ConfigError);
    assert.equal(subjectOf(await sClient(address, 8443, ca.crt, ['-servername', 'c.tls.test'])), 'c');
  });

  it('names the key and the file of a bad certificate: not PEM, a key of another certificate, expired', () => {
    const p = { sessionIdContext: 'x', sessionTimeoutS: 60 };
    const other = makeTestCert(ca, 'other', ['DNS:other.tls.test']);
    const notPem = path.join(root, 'not.pem');
    fs.writeFileSync(notPem, 'hello\n');
    assert.throws(
      () => loadCertificateFiles({ key: 'lb.tls.certificates[0]', certFile: notPem, keyFile: other.keyFile }, p),
      (e: unknown) => e instanceof ConfigError && e.key === 'lb.tls.certificates[0]' && e.message.includes(notPem) && /not a PEM certificate/.test(e.message),
    );
    assert.throws(
      () => loadCertificateFiles({ key: 'lb.tls.certificates[1]', certFile: certA.certFile, keyFile: other.keyFile }, p),
      (e: unknown) => e instanceof ConfigError && e.key === 'lb.tls.certificates[1]' && e.message.includes(certA.certFile) && /do not match/.test(e.message),
    );
    const pem = { cert: fs.readFileSync(other.certFile, 'utf8'), key: fs.readFileSync(other.keyFile, 'utf8') };
    const later = new Date(Date.now() + 400 * 24 * 3600 * 1000);
    assert.throws(
      () => loadCertificate(pem, { key: 'lb.tls.certificates[2]', certFile: other.certFile }, p, later),
      (e: unknown) => e instanceof ConfigError && e.message.includes(other.certFile) && /expired/.test(e.message),
    );
    assert.throws(
      () => loadCertificateFiles({ key: 'lb.tls.certificates[3]', certFile: path.join(root, 'missing.crt'), keyFile: other.keyFile }, p),
      (e: unknown) => e instanceof ConfigError && e.key === 'lb.tls.certificates[3].certFile',
    );
  });
});

describe('HTTPS ticket keys across a rotation', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tls-rot-'));
  let pair: Pair | undefined;
  after(async () => {
    await pair?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('resumes, on the other load balancer, a session whose ticket was sealed with the previous period key', async () => {
    const ca = makeTestCa(path.join(root, 'ca'));
    const cert = makeTestCert(ca, 'r', ['DNS:r.tls.test']);
    // A clock 2 s before a period boundary (periods of 60 s), so the keys rotate during the test.
    const periodS = 60;
    const boundary = (periodOf(Date.now(), periodS) + 2) * periodS * 1000;
    const offset = boundary - 2_000 - Date.now();
    const now = (): number => Date.now() + offset;
    pair = await startPair('127.0.223', 11, { certificates: [cert], ticketKeyPeriodS: periodS }, { now });
    const [one, two] = pair.addresses;
    assert.ok(one && two);
    const sess = path.join(root, 'sess');
    const first = await sClient(one, 8443, ca.crt, ['-tls1_3', '-servername', 'r.tls.test', '-sess_out', sess]);
    assert.equal(reused(first), false);
    assert.ok(now() < boundary, 'the session was made before the rotation (a starved machine: run again)');
    await until(() => now() > boundary + 200, 10_000, 'the period boundary');
    const second = await sClient(two, 8443, ca.crt, ['-tls1_3', '-servername', 'r.tls.test', '-sess_in', sess]);
    assert.ok(reused(second), `not resumed after the rotation:\n${second.out.slice(0, 1500)}`);
    // And a fresh session after the rotation resumes with the current key.
    const third = await sClient(one, 8443, ca.crt, ['-tls1_2', '-servername', 'r.tls.test', '-sess_out', sess]);
    const fourth = await sClient(two, 8443, ca.crt, ['-tls1_2', '-servername', 'r.tls.test', '-sess_in', sess]);
    assert.equal(reused(third), false);
    assert.ok(reused(fourth));
    const stats = JSON.parse(await getText(`${pair.lbs[1]?.adminUrl ?? ''}/-/stats`)) as { tls: { handshakes: { previousKey: number; resumed: number } } };
    assert.equal(stats.tls.handshakes.previousKey, 1, 'the first resumption went through the previous-key twin');
    assert.equal(stats.tls.handshakes.resumed, 2);
  });
});

describe('OCSP stapling', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-tls-ocsp-'));
  let pair: Pair | undefined;
  let responder: http.Server | undefined;
  after(async () => {
    await pair?.close();
    await new Promise<void>((r) => (responder ? responder.close(() => r()) : r()));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("staples the responder's answer for a certificate that names one", async () => {
    const ca = makeTestCa(path.join(root, 'ca'));
    const responderAddress = '127.0.223.30';
    const cert = makeTestCert(ca, 'o', ['DNS:o.tls.test'], { ocspUrl: `http://${responderAddress}:8889/` });
    // The CA's responder: openssl itself in responder mode (-index), one request per run, behind
    // a small HTTP front on our own address.
    const x = new X509Certificate(fs.readFileSync(cert.certFile));
    const d = new Date(x.validTo);
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const expiry = `${p2(d.getUTCFullYear() % 100)}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}Z`;
    const index = path.join(root, 'index.txt');
    fs.writeFileSync(index, `V\t${expiry}\t\t${x.serialNumber.toUpperCase()}\tunknown\t/CN=o\n`);
    let asked = 0;
    responder = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        asked += 1;
        const reqFile = path.join(root, `req-${asked}.der`);
        const respFile = path.join(root, `resp-${asked}.der`);
        fs.writeFileSync(reqFile, Buffer.concat(chunks));
        execFileSync('openssl', ['ocsp', '-index', index, '-rsigner', ca.crt, '-rkey', ca.key, '-CA', ca.crt, '-reqin', reqFile, '-respout', respFile], {
          stdio: 'ignore',
          timeout: 10_000,
        });
        res.writeHead(200, { 'content-type': 'application/ocsp-response' });
        res.end(fs.readFileSync(respFile));
      });
    });
    await new Promise<void>((r) => responder?.listen(8889, responderAddress, () => r()));
    pair = await startPair('127.0.223', 21, { certificates: [cert] });
    const [address] = pair.addresses;
    assert.ok(address);
    let out = '';
    await until(() => asked > 0, 15_000, 'the load balancers to ask the responder');
    for (let i = 0; i < 50 && !/Cert Status: good/.test(out); i++) {
      out = (await sClient(address, 8443, ca.crt, ['-status', '-servername', 'o.tls.test'])).out;
      if (!/Cert Status: good/.test(out)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(out, /OCSP Response Status: successful/);
    assert.match(out, /Cert Status: good/);
  });
});
