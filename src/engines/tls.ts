import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { hostStateDir, servicesOf, substrateTraits, edgeTlsFiles, tlsDir, type EdgeTlsFiles } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { renameDurably } from '../shared/files.js';

/*
 * The cluster's own certificate authority, for the database's group and state-transfer traffic
 * between machines (Galera gcomm/IST, mariabackup SST). One CA per cluster, made by hastack with
 * `openssl` in `<stateDir>/tls/` on the machine that runs `up` or `deploy`; each database node
 * gets a key and a certificate signed by it (SAN = the node's address). Only the CA's certificate,
 * and a node's own key and certificate, go to that node: the CA's key never leaves the operator.
 * Membership is "holds a certificate of this CA" (peers verify the chain), on top of the address
 * allow-list. Keys are written 0600 into a 0700 directory and are never on a command line
 * (openssl reads and writes them by path).
 */

export interface NodeTlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

function filesIn(dir: string, node: string): NodeTlsFiles {
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, `${node}.crt`), key: path.join(dir, `${node}.key`) };
}

/**
 * Where `node`'s TLS files are on that node: `<stateDir>/tls/` there. On hosts that is the hosts'
 * state directory, also when asked from the operator's machine (a failover there names the files
 * in the replica's CHANGE MASTER), not the operator's own state directory that holds the CA.
 */
export function nodeTlsFiles(topo: Topology, node: string): NodeTlsFiles {
  return filesIn(tlsDir(substrateTraits(topo.config).nodesAreMachines ? hostStateDir(topo.config) : topo.stateDir), node);
}

/**
 * Whether database traffic between nodes is encrypted: `database.tls`, where `auto` means on for
 * `hosts` (traffic crosses a real network) and off for `local` and `netns` (one machine: loopback
 * or a private bridge no other machine reaches), which keeps every start there free of openssl.
 */
export function databaseTlsOn(topo: Topology): boolean {
  const t = topo.config.database.tls;
  return t === 'on' || (t === 'auto' && substrateTraits(topo.config).nodesAreMachines);
}

// Ten years: a cluster's private CA rotates with `rm -r tls/` and a full restart, not on a clock
// that would stop the cluster one night; node certificates last as long.
const DAYS = '3650';
// openssl on a 2-core machine makes an RSA 2048 key in well under a second; 30 s bounds a starved one.
const OPENSSL_TIMEOUT_MS = 30_000;

function openssl(args: readonly string[], what: string): void {
  try {
    execFileSync('openssl', [...args], { stdio: ['ignore', 'ignore', 'pipe'], timeout: OPENSSL_TIMEOUT_MS });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new HastackError(ErrorCode.SETUP_FAILED, `openssl failed to ${what}: ${stderr || (e as Error).message}; is the openssl package installed?`);
  }
}

/** A new private key at `file`, 0600 (written under a 0700 directory, then tightened). */
function newKey(file: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', tmp], `make the key ${file}`);
  fs.chmodSync(tmp, 0o600);
  renameDurably(tmp, file);
}

function ensureCa(dir: string, cluster: string): { crt: string; key: string } {
  const key = path.join(dir, 'ca.key');
  const crt = path.join(dir, 'ca.crt');
  if (fs.existsSync(key) && fs.existsSync(crt)) return { crt, key };
  newKey(key);
  const tmp = `${crt}.${process.pid}.tmp`;
  openssl(['req', '-x509', '-new', '-key', key, '-sha256', '-days', DAYS, '-subj', `/O=hastack/CN=hastack ${cluster} cluster CA`, '-out', tmp], 'make the cluster CA');
  fs.chmodSync(tmp, 0o644);
  renameDurably(tmp, crt);
  return { crt, key };
}

function ensureNodeCert(dir: string, ca: { crt: string; key: string }, node: string, address: string): void {
  const files = filesIn(dir, node);
  if (fs.existsSync(files.key) && fs.existsSync(files.cert) && certMatches(files.cert, address)) return;
  newKey(files.key);
  const csr = path.join(dir, `${node}.csr.${process.pid}`);
  const ext = path.join(dir, `${node}.ext.${process.pid}`);
  const tmp = `${files.cert}.${process.pid}.tmp`;
  try {
    openssl(['req', '-new', '-key', files.key, '-subj', `/O=hastack/CN=${node}`, '-out', csr], `make the request of ${node}`);
    // Both ends of a connection present this certificate (gcomm and SST are peer to peer).
    fs.writeFileSync(ext, `subjectAltName=IP:${address}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
    openssl(
      ['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', DAYS, '-sha256', '-extfile', ext, '-out', tmp],
      `sign the certificate of ${node}`,
    );
    fs.chmodSync(tmp, 0o644);
    renameDurably(tmp, files.cert);
  } finally {
    fs.rmSync(csr, { force: true });
    fs.rmSync(ext, { force: true });
  }
}

/** True when the certificate names `address` (a node that moved gets a new one). */
function certMatches(cert: string, address: string): boolean {
  try {
    const text = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8', timeout: OPENSSL_TIMEOUT_MS });
    return new RegExp(`IP Address:${address.replace(/\./g, '\\.')}(\\s|,|$)`).test(text);
  } catch {
    return false;
  }
}

/**
 * Makes (once) the cluster's CA and a certificate for every database node, when database TLS is
 * on. Idempotent; run by `up` and `deploy` on the operator's machine before anything starts.
 */
export function ensureClusterTls(topo: Topology): void {
  if (!databaseTlsOn(topo)) return;
  const dir = tlsDir(topo.stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const ca = ensureCa(dir, topo.cluster);
  for (const svc of servicesOf(topo, 'mariadb')) ensureNodeCert(dir, ca, svc.node, svc.address);
}

/** The CA certificate and one node's key and certificate, as text, for shipping to that node. */
export function readNodeTls(topo: Topology, node: string): { ca: string; cert: string; key: string } {
  const stateDir = topo.stateDir;
  const f = filesIn(tlsDir(stateDir), node);
  try {
    return { ca: fs.readFileSync(f.ca, 'utf8'), cert: fs.readFileSync(f.cert, 'utf8'), key: fs.readFileSync(f.key, 'utf8') };
  } catch (e) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `the TLS files of ${node} are missing in ${tlsDir(stateDir)} (${(e as Error).message}); run "hastack deploy" again, which makes them`,
    );
  }
}

/** This node's files, run on the node itself: fails with what to do when they are not here. */
export function requireNodeTls(topo: Topology, node: string): NodeTlsFiles {
  const f = nodeTlsFiles(topo, node);
  for (const file of [f.ca, f.cert, f.key]) {
    if (!fs.existsSync(file)) {
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `database.tls is on but ${file} is missing; run "hastack deploy" (hosts) or "hastack up" (local), which make and ship the cluster's certificates`,
      );
    }
  }
  return f;
}

/**
 * `lb.tls` with the cluster's own CA (`lb.tls.local`, the default on local and netns): a
 * certificate for `serviceName` and every load balancer's address (and the floating one), signed
 * by the cluster CA, at `<stateDir>/tls/lb_edge.crt` and `lb_edge.key`. Made again when those names
 * change. Clients trust it with `--cacert <stateDir>/tls/ca.crt`. Idempotent; run by `up`.
 */
export function ensureEdgeCertificate(topo: Topology): EdgeTlsFiles {
  const dir = tlsDir(topo.stateDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const ca = ensureCa(dir, topo.cluster);
  const files = edgeTlsFiles(topo);
  const ips = [...new Set([...servicesOf(topo, 'lb').map((s) => s.address), ...(topo.config.lb.vip !== undefined ? [topo.config.lb.vip] : [])])];
  const san = [`DNS:${topo.config.serviceName}`, ...ips.map((a) => `IP:${a}`)].join(',');
  if (fs.existsSync(files.key) && fs.existsSync(files.cert) && sanOf(files.cert) === normalSan(san)) return files;
  newKey(files.key);
  const csr = path.join(dir, `edge.csr.${process.pid}`);
  const ext = path.join(dir, `edge.ext.${process.pid}`);
  const tmp = `${files.cert}.${process.pid}.tmp`;
  try {
    openssl(['req', '-new', '-key', files.key, '-subj', `/O=hastack/CN=${topo.config.serviceName}`, '-out', csr], 'make the request of the edge certificate');
    fs.writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', DAYS, '-sha256', '-extfile', ext, '-out', tmp], 'sign the edge certificate');
    fs.chmodSync(tmp, 0o644);
    renameDurably(tmp, files.cert);
  } finally {
    fs.rmSync(csr, { force: true });
    fs.rmSync(ext, { force: true });
  }
  return files;
}

/** `DNS:a,IP:1.2.3.4` in the form openssl prints (`DNS:a, IP Address:1.2.3.4`), for comparison. */
function normalSan(san: string): string {
  return san
    .split(',')
    .map((p) => p.replace(/^IP:/, 'IP Address:'))
    .join(', ');
}

function sanOf(cert: string): string | undefined {
  try {
    const text = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8', timeout: OPENSSL_TIMEOUT_MS });
    return text.split('\n')[1]?.trim();
  } catch {
    return undefined;
  }
}
