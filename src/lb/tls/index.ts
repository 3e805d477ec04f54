import type http from 'node:http';
import { httpsPort, HSTS_DEFAULT_MAX_AGE_S, type LbTlsConfig } from '../../config/index.js';
import type { ServiceContext } from '../../registry/index.js';
import { ConfigError, ErrorCode, HastackError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { ConnectionGate } from '../limits.js';
import { listen, type ClientLimits } from '../server.js';
import { CertificateSet } from './certificate-set.js';
import type { ProtocolSettings } from './certs.js';
import { certificateFileSources, CertificateFileWatch, FILES_SLOT, loadSources } from './files.js';
import { createHttpsListener, type HttpsListener } from './listener.js';
import { OcspStapler } from './ocsp.js';
import { TlsStats } from './stats.js';
import { TicketRotor } from './tickets.js';

export { CertificateSet } from './certificate-set.js';
export type { CertificateView } from './certificate-set.js';
export { loadCertificate, loadCertificateFiles } from './certs.js';
export type { CertificatePem, CertificateSource, LoadedCertificate, ProtocolSettings } from './certs.js';
export { certificateFileSources, configuredCertificateSources, checkCertificateFiles, acmeCaFile } from './files.js';
export { TlsStats, registerTlsMetrics } from './stats.js';
/** Throwaway CA and certificates made with openssl, for tests and benches (never the product's own: src/engines/tls.ts). */
export { makeTestCa, makeTestCert } from './test-certs.js';
export type { TestCa } from './test-certs.js';

/** Paths under this prefix stay on plain HTTP (never redirected): ACME's HTTP-01 challenge. */
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/**
 * The longest a session may be resumed: 1 h, Mozilla's intermediate profile says 1 d; shorter
 * keeps a stolen ticket key's reach small, and after 1 h a full handshake costs ~1 ms of CPU.
 * Capped at the ticket key period so a ticket never outlives the key after the one it was sealed with.
 */
const SESSION_TIMEOUT_S = 3600;

/** `Strict-Transport-Security` for lb.tls.hsts, or undefined when off. */
export function hstsHeader(t: LbTlsConfig): string | undefined {
  if (t.hsts === false) return undefined;
  const o = t.hsts === true ? { maxAgeS: HSTS_DEFAULT_MAX_AGE_S, includeSubDomains: false } : t.hsts;
  return `max-age=${o.maxAgeS}${o.includeSubDomains ? '; includeSubDomains' : ''}`;
}

export function protocolSettings(ctx: ServiceContext, t: LbTlsConfig): ProtocolSettings {
  // The same on every load balancer (not Node's default hash of argv, which differs by service).
  return { sessionIdContext: `hastack-${ctx.topo.cluster}`.slice(0, 32), sessionTimeoutS: Math.min(SESSION_TIMEOUT_S, t.ticketKeyPeriodS) };
}

export interface EdgeTls {
  readonly certificates: CertificateSet;
  readonly stats: TlsStats;
  readonly listener: HttpsListener;
  readonly port: number;
  /** `https://address:port` of this load balancer's HTTPS listener. */
  readonly url: string;
  listen(): Promise<void>;
  close(graceMs: number): Promise<void>;
}

export interface EdgeTlsOptions {
  readonly handler: http.RequestListener;
  readonly limits: ClientLimits;
  readonly gate: ConnectionGate;
  readonly log: Logger;
  /** Overrides `ports.https` (tests: 0 picks a free one). */
  readonly port?: number;
  readonly handshakeTimeoutMs?: number;
  /** Overrides the clock of the ticket key periods (tests). */
  readonly now?: () => number;
  /**
   * Fills slots before the listener is made (ACME: the certificate already in the cluster's
   * store), so a cluster with only lb.tls.acme has a default certificate to start with.
   */
  readonly preload?: (set: CertificateSet) => void;
  /** Choose by SNI even with one configured certificate (slots filled at runtime carry other names). */
  readonly sni?: boolean;
}

/**
 * Sets up the HTTPS side of one load balancer: its certificates (files or the cluster CA's; ACME
 * adds its own slot at runtime), ticket keys, listener, file watch and SIGHUP reload. Throws a
 * ConfigError naming the key and file when a certificate is bad, before anything listens.
 */
export function setupEdgeTls(ctx: ServiceContext, t: LbTlsConfig, o: EdgeTlsOptions): EdgeTls {
  const protocol = protocolSettings(ctx, t);
  const certificates = new CertificateSet(protocol);
  const sources = certificateFileSources(ctx.topo);
  if (sources.length > 0) certificates.install(FILES_SLOT, loadSources(sources, protocol));
  o.preload?.(certificates);
  if (certificates.defaultCertificate === undefined) {
    // ACME only: nothing to serve until the first certificate is obtained; the acme tier fills
    // its slot before the listener starts (or lb.tls.certificates gives a stand-in).
    throw new ConfigError('lb.tls', 'no certificate to serve: give lb.tls.certificates (or local: true) until ACME has obtained one');
  }
  const secret = ctx.secrets.tlsTicketSecret;
  if (secret === undefined) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      `secrets.json of cluster ${ctx.topo.cluster} has no "tlsTicketSecret" (written by an older hastack): run "hastack up" (or "hastack deploy" on hosts), which adds it`,
    );
  }
  const stats = new TlsStats();
  // The rotor is made first (the listener takes its first keys from it) and reaches the listener later.
  const holder: { listener?: HttpsListener } = {};
  const rotor = new TicketRotor(secret, ctx.topo.cluster, t.ticketKeyPeriodS, (keys) => holder.listener?.setTicketKeys(keys), o.now);
  const listener = createHttpsListener({
    handler: o.handler,
    limits: o.limits,
    gate: o.gate,
    certificates,
    tickets: rotor,
    stats,
    log: o.log,
    sni: (t.certificates?.length ?? 0) > 1 || t.acme !== undefined || o.sni === true,
    ...(o.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: o.handshakeTimeoutMs } : {}),
  });
  holder.listener = listener;
  // OCSP stapling for certificates that name a responder (ocsp.ts); the listeners answer OCSP
  // requests only once one does, so other clusters pay nothing per handshake for it.
  const stapler = new OcspStapler(o.log);
  let stapling = false;
  let started = false;
  const syncOcsp = (): void => {
    if (!started) return;
    const certs = certificates.all().map((c) => c.cert);
    if (!stapling && OcspStapler.wanted(certs)) {
      stapling = true;
      for (const srv of [listener.server, listener.twin]) srv.on('OCSPRequest', stapler.onRequest);
    }
    stapler.update(certs);
  };
  certificates.onChange(syncOcsp);
  const watch = new CertificateFileWatch(sources, certificates, o.log);
  const onHup = (): void => {
    if (sources.length > 0) watch.reload('SIGHUP');
  };
  const port = o.port ?? httpsPort(ctx.topo.config);
  const l = listener;
  const edge: EdgeTls = {
    certificates,
    stats,
    listener: l,
    port,
    get url(): string {
      const a = l.server.address();
      return typeof a === 'object' && a !== null ? `https://${a.address}:${a.port}` : `https://${ctx.svc.address}:${port}`;
    },
    async listen(): Promise<void> {
      started = true;
      syncOcsp();
      rotor.start();
      if (sources.length > 0) watch.start();
      process.on('SIGHUP', onHup);
      await listen(l.server as unknown as http.Server, ctx.svc.address, port, `load balancer ${ctx.svc.id} (HTTPS)`);
    },
    async close(graceMs: number): Promise<void> {
      process.off('SIGHUP', onHup);
      watch.stop();
      rotor.stop();
      stapler.stop();
      await l.close(graceMs);
    },
  };
  return edge;
}
