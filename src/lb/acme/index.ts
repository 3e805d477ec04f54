/**
 * ACME (HTTP-01) for the load balancers: every LB runs `startAcme`, which keeps the shared state
 * in the cluster's database and hands each new certificate to the TLS listener. README.md here.
 */
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { appDbServices, type Secrets, type Topology } from '../../config/index.js';
import { DbClient } from '../../clients/db/index.js';
import { DB_USERS, EDGE_SCHEMA } from '../../engines/index.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { appendEvent } from '../../shared/events.js';
import type { Logger } from '../../shared/log.js';
import { ACME_CHALLENGE_PREFIX as CHALLENGE_PREFIX, acmeCaFile, type CertificateSet } from '../tls/index.js';
import { AcmeRenewer, type AcmeStep, type AcmeView } from './renewer.js';
import { storeKey } from './seal.js';
import { AcmeStore, type StoredCert } from './store.js';

export type { AcmeView } from './renewer.js';
export type { StoredCert } from './store.js';

/** The HTTPS listener's certificate slot ACME fills (src/lb/tls/certificate-set.ts). */
export const ACME_SLOT = 'acme';

/** Serves `c` to the next handshakes (connections in progress keep theirs). Throws a ConfigError on a certificate the listener refuses. */
export function installAcmeCertificate(set: CertificateSet, c: StoredCert): void {
  set.replace(ACME_SLOT, [{ pem: { cert: c.certPem, key: c.keyPem }, source: { key: 'lb.tls.acme', certFile: `acme certificate ${c.serial}` } }]);
}
/** RFC 8555 §8.3: a token is base64url; 128 characters is far above the 43 CAs send. */
const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;
/** Challenge lookups in flight at once per LB: 16. Each is one indexed SELECT; more waiting would only let an anonymous client tie up database connections. */
const MAX_CHALLENGE_LOOKUPS = 16;

export interface RunningAcme {
  /** The first look at the store is done (a certificate there was installed), or 10 s passed. */
  readonly ready: Promise<void>;
  /** Answers `GET /.well-known/acme-challenge/TOKEN` from the store; false when the path is not one. */
  readonly answer: (req: IncomingMessage, res: ServerResponse) => boolean;
  readonly view: () => AcmeView;
  readonly close: () => Promise<void>;
}

export interface AcmeStartOptions {
  readonly topo: Topology;
  readonly secrets: Secrets;
  readonly lb: string;
  readonly log: Logger;
  /** The TLS listener's "serve this certificate to new handshakes" call. */
  readonly install: (cert: StoredCert) => void;
  /** Tests: the store poll (default renewer.ts POLL_MS). */
  readonly pollMs?: number;
}

/** Starts the loop when `lb.tls.acme` is set; undefined otherwise. */
export function startAcme(o: AcmeStartOptions): RunningAcme | undefined {
  const cfg = o.topo.config.lb.tls?.acme;
  if (cfg === undefined) return undefined;
  const { lbDbPassword, lbStoreKey } = o.secrets;
  if (lbDbPassword === undefined || lbStoreKey === undefined) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `lb.tls.acme needs the secrets lbDbPassword and lbStoreKey, which this node lacks: run "hastack up" (or "deploy") once to add them`,
    );
  }
  let ca: string | undefined;
  // On hosts the copy deploy shipped (src/lb/tls/files.ts), not the operator's path.
  const caFile = acmeCaFile(o.topo);
  if (caFile !== undefined) {
    try {
      ca = fs.readFileSync(caFile, 'utf8');
    } catch (e) {
      throw new HastackError(ErrorCode.CONFIG_INVALID, `lb.tls.acme.caFile: cannot read ${caFile}: ${(e as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new HastackError(ErrorCode.CONFIG_INVALID, `lb.tls.acme.caFile: ${caFile} is not a PEM certificate`);
  }
  const nodes = appDbServices(o.topo).map((s) => ({ id: s.node, address: s.address, port: s.port }));
  const db = new DbClient(nodes, { mode: o.topo.config.database.mode, user: DB_USERS.edge, password: lbDbPassword, database: EDGE_SCHEMA, log: o.log });
  const store = new AcmeStore(db, storeKey(lbStoreKey));
  const event = (step: AcmeStep, message: string, data: Record<string, unknown> = {}): void => {
    // In the service's own log too: on hosts a load balancer cannot write the operator's event log.
    if (step !== 'failed') o.log.info({ acme: step, ...data }, message);
    appendEvent(o.topo.stateDir, { type: step === 'failed' ? 'acme.failed' : 'acme.step', message, service: o.lb, data: { step, ...data } });
  };
  const renewer = new AcmeRenewer({
    lb: o.lb,
    store,
    settings: { directoryUrl: cfg.directoryUrl, email: cfg.email, names: cfg.names, ...(ca === undefined ? {} : { ca }) },
    renewBeforeMs: cfg.renewBeforeDays * 86_400_000,
    install: o.install,
    event,
    log: o.log,
    ...(o.pollMs === undefined ? {} : { pollMs: o.pollMs }),
  });
  const ready = renewer.start();

  let lookups = 0;
  const answer = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '/';
    if (!url.startsWith(CHALLENGE_PREFIX)) return false;
    const token = url.slice(CHALLENGE_PREFIX.length);
    const reply = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(405, 'method not allowed\n');
      return true;
    }
    if (!TOKEN_RE.test(token)) {
      reply(404, 'no such challenge\n');
      return true;
    }
    if (lookups >= MAX_CHALLENGE_LOOKUPS) {
      res.setHeader('retry-after', '1');
      reply(503, 'busy\n');
      return true;
    }
    lookups++;
    store
      .challenge(token)
      .then((k) => (k === undefined ? reply(404, 'no such challenge\n') : reply(200, k)))
      .catch(() => reply(503, 'challenge store unreachable\n'))
      .finally(() => lookups--);
    return true;
  };

  return {
    ready,
    answer,
    view: () => renewer.view(),
    close: async () => {
      await renewer.stop();
      await db.close();
    },
  };
}
