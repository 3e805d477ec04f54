/**
 * lb.tls.acme against a real ACME server: Debian's pebble (Let's Encrypt's test CA), started here
 * on loopback with short-lived certificates. One cluster: two load balancers (each with a DNS
 * server), one core node (MariaDB, Redis + Sentinel, memcached, the ERP and its worker). It checks, in order:
 * - the cluster obtains a certificate for its service name through HTTP-01 (pebble resolves the
 *   name through the cluster's own DNS tier, so it reaches either load balancer), stored once in
 *   the database (the private key sealed) and installed by both load balancers;
 * - both serve it over HTTPS (openssl s_client; curl --cacert with pebble's issuing root);
 * - it renews (120 s certificates, renewed 90 s before expiry) while the chaos workload runs over
 *   HTTPS through both load balancers (`chaos run baseline --https`): 0 failed requests;
 * - pebble down: the current certificate is still served, the failure is an event, `/-/stats`
 *   and `hastack status` show it, and the load balancers stay healthy.
 * Mostly waiting (renewals), hence the second lane.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { Agent, request } from 'undici';
import { readSecrets } from '../../src/config/index.js';
import type { ClusterEvent } from '../../src/shared/events.js';
import { readEventsFrom } from '../../src/shared/events.js';
import { ERP_APP, onRange, twoLbNodes } from '../../kit/configs.js';
import { testRange } from '../../kit/addresses.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { useCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const R = testRange('acme');
const LBS = [R.address(1), R.address(2)];
const PEBBLE = R.address(10);
const NAME = 'erp.hastack.test';
const HTTPS_PORT = 8443;
const ADMIN_PORT = 8404;
/** pebble's certificates live 120 s and are renewed 90 s before expiry: a renewal ~30 s after each issue. */
const VALIDITY_S = 120;
const RENEW_BEFORE_S = 90;
/** Bounds of each wait (this test counts and compares; it times nothing). */
const ISSUE_TIMEOUT_MS = 150_000;
const RENEW_TIMEOUT_MS = 150_000;
const FAIL_TIMEOUT_MS = 120_000;
const WORKLOAD_S = 45;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface AcmeStats {
  serial?: string;
  notAfter?: string;
  lastError?: string;
}

const tmp = tempDir('acme-pebble');
let pebble: Pebble | undefined;
let pebbleTlsCa = '';

/** A CA of the test's own and a certificate for pebble's address: pebble's HTTPS (the Debian package ships no test certificates). */
async function pebbleCertificates(): Promise<void> {
  const f = (n: string): string => path.join(tmp, n);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=hastack test pebble CA',
  ]);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('key.pem'), '-out', f('leaf.csr'), '-subj', '/CN=pebble']);
  fs.writeFileSync(f('ext.cnf'), `subjectAltName=IP:${PEBBLE}\n`);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('leaf.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('cert.pem'),
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
  ]);
  pebbleTlsCa = f('ca.pem');
}

async function pebbleReady(): Promise<void> {
  const ca = fs.readFileSync(pebbleTlsCa, 'utf8');
  const agent = new Agent({ connect: { ca } });
  try {
    for (let i = 0; i < 50; i++) {
      try {
        const r = await request(`https://${PEBBLE}:14000/dir`, { dispatcher: agent });
        await r.body.text();
        if (r.statusCode === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    assert.fail(`pebble did not answer on ${PEBBLE}:14000; its log: ${fs.readFileSync(pebble?.logFile ?? path.join(tmp, 'pebble.log'), 'utf8')}`);
  } finally {
    await agent.close();
  }
}

/** pebble's issuing root (it makes a new one at each start), from its management API. */
async function pebbleRoot(): Promise<string> {
  const agent = new Agent({ connect: { ca: fs.readFileSync(pebbleTlsCa, 'utf8') } });
  try {
    const r = await request(`https://${PEBBLE}:15000/roots/0`, { dispatcher: agent });
    return await r.body.text();
  } finally {
    await agent.close();
  }
}

async function acmeStats(lb: string): Promise<AcmeStats | undefined> {
  const r = await request(`http://${lb}:${ADMIN_PORT}/-/stats`);
  const body = (await r.body.json()) as { acme?: AcmeStats };
  return body.acme;
}

/** Until both load balancers serve one serial other than `not`; that serial. */
async function bothInstalled(timeoutMs: number, not?: string): Promise<string> {
  const until = Date.now() + timeoutMs;
  let last: Array<AcmeStats | undefined> = [];
  while (Date.now() < until) {
    last = await Promise.all(LBS.map((lb) => acmeStats(lb).catch(() => undefined)));
    const serials = last.map((s) => s?.serial);
    if (serials[0] !== undefined && serials[0] !== not && serials.every((s) => s === serials[0])) return serials[0];
    await sleep(500);
  }
  return assert.fail(`the load balancers did not both install a certificate${not === undefined ? '' : ` other than ${not}`} within ${timeoutMs / 1000} s: ${JSON.stringify(last)}`);
}

/** The serial of the certificate `lb` serves on its HTTPS port to a client asking for NAME (openssl s_client). */
async function servedSerial(lb: string): Promise<string> {
  const { stdout } = await run('sh', ['-c', `openssl s_client -connect ${lb}:${HTTPS_PORT} -servername ${NAME} </dev/null 2>/dev/null | openssl x509 -noout -serial`], {
    timeout: 15_000,
  });
  return stdout.trim().replace(/^serial=/, '');
}

/**
 * Whether `lb` serves to new handshakes the certificate its `/-/stats` says it installed. A
 * renewal may land between the two reads (one every ~30 s here): then the read is taken again.
 */
async function servesInstalled(lb: string): Promise<{ served: string; installed: string | undefined }> {
  let last = { served: '', installed: undefined as string | undefined };
  for (let i = 0; i < 3; i++) {
    const before = (await acmeStats(lb))?.serial?.toLowerCase();
    const served = (await servedSerial(lb)).toLowerCase();
    const after = (await acmeStats(lb))?.serial?.toLowerCase();
    last = { served, installed: after };
    if (served === before || served === after) return { served, installed: served };
  }
  return last;
}

function events(stateDir: string): ClusterEvent[] {
  return readEventsFrom(stateDir, 0).events;
}

/** How long the whole file took, for the report (this test lives in the second lane). */
const startedAt = Date.now();

describe('lb.tls.acme: certificates from pebble over HTTP-01, shared by two load balancers, renewed under load', { timeout: 900_000 }, () => {
  before(async () => {
    await pebbleCertificates();
    pebble = startPebble({
      dir: tmp,
      address: PEBBLE,
      certFile: path.join(tmp, 'cert.pem'),
      keyFile: path.join(tmp, 'key.pem'),
      httpPort: 8080,
      tlsPort: HTTPS_PORT,
      // The cluster's DNS tier answers the service name with both load balancers.
      dnsServer: `${LBS[0]}:5353`,
      validityS: VALIDITY_S,
      // A fresh authorization (a real HTTP-01) every order.
      env: { PEBBLE_AUTHZREUSE: '0' },
    });
    await pebbleReady();
  });
  after(async () => {
    await pebble?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    console.log(`acme.side: ${Math.round((Date.now() - startedAt) / 1000)} s in all`);
  });

  const c = useCluster(
    'acme',
    onRange('acme', {
      nodes: twoLbNodes(),
      database: { mode: 'replication' },
      redis: { quorum: 1 },
      serviceName: NAME,
      app: ERP_APP,
      lb: {
        tls: {
          acme: {
            directoryUrl: `https://${PEBBLE}:14000/dir`,
            email: 'ops@hastack.test',
            names: [NAME],
            renewBeforeDays: RENEW_BEFORE_S / 86_400,
            caFile: path.join(tmp, 'ca.pem'),
          },
        },
      },
    }),
  );

  let first = '';
  let root = '';

  it('obtains a certificate for the service name through HTTP-01 and both load balancers install it', async () => {
    first = await bothInstalled(ISSUE_TIMEOUT_MS);
    const steps = events(c.stateDir).filter((e) => e.type === 'acme.step');
    const stepsOf = (s: string): ClusterEvent[] => steps.filter((e) => e.data?.['step'] === s);
    assert.ok(stepsOf('lease').length >= 1 && stepsOf('order').length >= 1 && stepsOf('challenge').length >= 1 && stepsOf('issued').length >= 1, 'every step is an event');
    const installedBy = new Set(stepsOf('installed').map((e) => e.service));
    assert.deepEqual([...installedBy].sort(), ['lb1/lb', 'lb2/lb']);

    // One row in the database, its private key sealed (never a PEM in clear there).
    const secrets = readSecrets(c.stateDir);
    const db = await mysql.createConnection({ host: R.address(3), port: 3306, user: 'hastack_admin', password: secrets.dbRootPassword, connectTimeout: 5_000 });
    try {
      const [rows] = await db.query<mysql.RowDataPacket[]>("SELECT names, serial, LOCATE('PRIVATE KEY', key_sealed) AS clear FROM hastack_edge.acme_certificates");
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.['names'], NAME);
      assert.equal(rows[0]?.['clear'], 0, 'the private key is stored sealed');
      // The load balancers' account reaches hastack_edge and nothing else.
      // One entry per address a load balancer connects from (here 127.0.0.1: the local substrate's loopback), never '%'.
      const [hosts] = await db.query<mysql.RowDataPacket[]>("SELECT Host AS h FROM mysql.user WHERE User = 'hastack_edge' ORDER BY Host");
      assert.deepEqual(
        hosts.map((h) => String(h['h'])),
        ['127.0.0.1', ...LBS].sort(),
      );
      const [grants] = await db.query<mysql.RowDataPacket[]>("SHOW GRANTS FOR 'hastack_edge'@'127.0.0.1'");
      const text = grants.map((g) => String(Object.values(g)[0])).join('\n');
      assert.match(text, /GRANT SELECT, INSERT, UPDATE, DELETE ON `hastack_edge`\.\*/);
      assert.doesNotMatch(text, /ALL PRIVILEGES|ON `erp`|ON `hastack`\./);
    } finally {
      await db.end();
    }
  });

  it("serves it on both load balancers over HTTPS, verified against pebble's issuing root", async () => {
    root = await pebbleRoot();
    fs.writeFileSync(path.join(tmp, 'root.pem'), root);
    for (const lb of LBS) {
      const r = await servesInstalled(lb);
      assert.equal(r.served, r.installed, `${lb} serves the ACME certificate it installed`);
      const { stdout } = await run('curl', [
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        path.join(tmp, 'root.pem'),
        '--resolve',
        `${NAME}:${HTTPS_PORT}:${lb}`,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `https://${NAME}:${HTTPS_PORT}/healthz`,
      ]);
      assert.equal(stdout, '200', `curl --cacert through ${lb}`);
    }
  });

  it('renews it while the chaos workload runs over HTTPS (chaos run baseline --https), with 0 failed requests', async () => {
    // The workload verifies the load balancers' certificate against the system store plus pebble's
    // root (NODE_EXTRA_CA_CERTS), with the service name as SNI, as a browser would.
    const rootFile = path.join(tmp, 'root.pem');
    const json = path.join(c.dir, 'baseline-https.json');
    const from = readEventsFrom(c.stateDir, 0).offset;
    let chaosDone = false;
    // 45 s of workload: a renewal comes every ~30 s (120 s certificates renewed 90 s before
    // expiry), so at least one falls inside the window whatever the phase.
    const chaos = runCli(['chaos', 'run', 'baseline', '--https', '--duration', String(WORKLOAD_S), '--clients', '4', '--json', json, '-f', c.configFile], {
      cwd: c.dir,
      timeoutMs: 240_000,
      env: { NODE_EXTRA_CA_CERTS: rootFile },
    }).finally(() => {
      chaosDone = true;
    });
    const renewed = await bothInstalled(RENEW_TIMEOUT_MS, first);
    assert.equal(chaosDone, false, 'renewed while the workload ran');
    const res = await chaos;
    process.stdout.write(res.stdout);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { requests: number; failed: number; lostWrites: number; ackedWrites: number };
    // Every certificate installed during the run, on each load balancer (at least one renewal each).
    const installed = readEventsFrom(c.stateDir, from).events.filter((e) => e.type === 'acme.step' && e.data?.['step'] === 'installed');
    console.log(
      `renewal under the chaos workload over HTTPS: ${report.requests} requests, ${report.failed} failed, ${report.ackedWrites} orders acknowledged, ${report.lostWrites} lost; ${installed.length} installs (${first} → ${renewed} → ...)`,
    );
    assert.equal(report.failed, 0, `${report.failed} of ${report.requests} requests failed`);
    assert.equal(report.lostWrites, 0);
    assert.ok(report.requests > 100, `the workload ran (${report.requests} requests)`);
    for (const lb of ['lb1/lb', 'lb2/lb'])
      assert.ok(
        installed.some((e) => e.service === lb),
        `${lb} installed a renewed certificate during the run`,
      );
    // New handshakes get the newest certificate.
    for (const lb of LBS) {
      const r = await servesInstalled(lb);
      assert.equal(r.served, r.installed, `${lb} serves the certificate it installed last`);
      assert.notEqual(r.served, first.toLowerCase());
    }
  });

  it('with the ACME server down keeps serving the current certificate, and says so (event, /-/stats, status)', async () => {
    // Only what happens from here on (an earlier attempt may have failed while DNS was starting).
    const from = readEventsFrom(c.stateDir, 0).offset;
    await pebble?.stop();
    const serving = await bothInstalled(5_000);
    const until = Date.now() + FAIL_TIMEOUT_MS;
    let failed: ClusterEvent | undefined;
    let stats: Array<AcmeStats | undefined> = [];
    while (Date.now() < until) {
      failed = readEventsFrom(c.stateDir, from).events.find((e) => e.type === 'acme.failed');
      stats = await Promise.all(LBS.map((lb) => acmeStats(lb).catch(() => undefined)));
      if (failed !== undefined && stats.some((s) => s?.lastError !== undefined)) break;
      await sleep(1_000);
    }
    assert.ok(failed !== undefined, 'an acme.failed event within the renewal window');
    console.log(`with pebble down: ${failed.message}`);
    assert.match(failed.message, /ACME directory .* unreachable: .*ECONNREFUSED/, 'the event says what failed');
    assert.ok(
      stats.some((s) => s?.lastError !== undefined),
      `a load balancer reports the failure: ${JSON.stringify(stats)}`,
    );
    for (const lb of LBS) {
      assert.equal((await servedSerial(lb)).toLowerCase(), serving.toLowerCase().replace(/:/g, ''), `${lb} still serves the current certificate`);
      const h = await request(`http://${lb}:8080/-/healthz`);
      await h.body.text();
      assert.equal(h.statusCode, 200, 'an ACME failure is never an outage');
    }
    const st = await runCli(['status', '-f', c.configFile], { cwd: c.dir, timeoutMs: 30_000 });
    assert.match(st.stdout, new RegExp(`https :${HTTPS_PORT}: ${NAME.replaceAll('.', '\\.')} until \\d{4}-\\d\\d-\\d\\d`));
    assert.match(st.stdout, /ACME renewal failing/);
  });
});
