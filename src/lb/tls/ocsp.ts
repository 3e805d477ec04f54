import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../shared/log.js';
import type { LoadedCertificate } from './certs.js';

/*
 * OCSP stapling, best effort: for each certificate whose leaf names an OCSP responder (and whose
 * file carries the issuer after it), the load balancer fetches a response with `openssl ocsp`
 * (the real client; certificate and issuer are public and go through a temporary file, never a
 * command line), keeps it in memory, and staples it to handshakes that ask (status_request). A
 * responder that is down only means no staple: the client asks the CA itself, as without stapling.
 */

/** Refresh every 6 h (responses are valid for days; Let's Encrypt's for 7), and retry a failure after 5 min. */
const REFRESH_MS = 6 * 3600_000;
const RETRY_MS = 5 * 60_000;
/** One fetch may take 10 s at most: a responder slower than that is down for our purpose. */
const FETCH_TIMEOUT_S = 10;

interface Staple {
  readonly der: Buffer;
  readonly response: Buffer;
  /** The response's Next Update, when it says; past it the staple is dropped. */
  readonly nextUpdate: number | undefined;
}

export type OcspFetch = (cert: LoadedCertificate) => Promise<{ response: Buffer; nextUpdate: number | undefined }>;

/** Fetches one response with `openssl ocsp`; rejects unless the certificate's status is good. */
export const opensslOcspFetch: OcspFetch = async (cert) => {
  const url = cert.ocspUrl;
  const issuer = cert.issuerPem;
  if (url === undefined || issuer === undefined) throw new Error('no responder URL or no issuer in the chain');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-ocsp-'));
  try {
    const leafFile = path.join(dir, 'leaf.pem');
    const issuerFile = path.join(dir, 'issuer.pem');
    const out = path.join(dir, 'resp.der');
    fs.writeFileSync(leafFile, /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(cert.pem.cert)?.[0] ?? '');
    fs.writeFileSync(issuerFile, issuer);
    const text = await new Promise<string>((resolve, reject) => {
      execFile(
        'openssl',
        ['ocsp', '-issuer', issuerFile, '-cert', leafFile, '-url', url, '-respout', out, '-noverify', '-timeout', String(FETCH_TIMEOUT_S)],
        { timeout: (FETCH_TIMEOUT_S + 5) * 1000 },
        (err, stdout, stderr) => (err ? reject(new Error(`openssl ocsp: ${stderr.trim() || err.message}`)) : resolve(`${stdout}\n${stderr}`)),
      );
    });
    if (!/:\s*good\b/.test(text)) throw new Error(`the responder does not say "good": ${text.trim().split('\n')[0] ?? ''}`);
    const next = /Next Update:\s*(.+)/.exec(text)?.[1];
    const nextUpdate = next !== undefined && !Number.isNaN(Date.parse(next)) ? Date.parse(next) : undefined;
    return { response: fs.readFileSync(out), nextUpdate };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
};

export class OcspStapler {
  private staples: Staple[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly log: Logger,
    private readonly fetch: OcspFetch = opensslOcspFetch,
  ) {}

  /** Whether any served certificate names a responder (the listener then answers OCSP requests). */
  static wanted(certs: readonly LoadedCertificate[]): boolean {
    return certs.some((c) => c.ocspUrl !== undefined && c.issuerPem !== undefined);
  }

  /** The served certificates changed: fetch for the new ones, forget the gone ones. */
  update(certs: readonly LoadedCertificate[]): void {
    const wanted = new Map(certs.filter((c) => c.ocspUrl !== undefined && c.issuerPem !== undefined).map((c) => [c.fingerprint256, c]));
    for (const [fp, t] of this.timers) {
      if (!wanted.has(fp)) {
        clearTimeout(t);
        this.timers.delete(fp);
      }
    }
    const keep = new Set([...wanted.values()].map((c) => derOf(c).toString('base64')));
    this.staples = this.staples.filter((s) => keep.has(s.der.toString('base64')));
    for (const [fp, c] of wanted) if (!this.timers.has(fp)) this.schedule(c, 0);
  }

  private schedule(cert: LoadedCertificate, delayMs: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => void this.refresh(cert), delayMs);
    t.unref();
    this.timers.set(cert.fingerprint256, t);
  }

  private async refresh(cert: LoadedCertificate): Promise<void> {
    try {
      const { response, nextUpdate } = await this.fetch(cert);
      const der = derOf(cert);
      this.staples = [...this.staples.filter((s) => !s.der.equals(der)), { der, response, nextUpdate }];
      this.log.debug({ certificate: cert.names[0], nextUpdate }, 'OCSP response fetched for stapling');
      this.schedule(cert, REFRESH_MS);
    } catch (e) {
      this.log.warn({ certificate: cert.names[0], url: cert.ocspUrl, err: (e as Error).message }, `OCSP response not fetched (no staple until it is): ${(e as Error).message}`);
      this.schedule(cert, RETRY_MS);
    }
  }

  /** tls.Server 'OCSPRequest': the cached response for this certificate, if fresh. */
  readonly onRequest = (certificate: Buffer, _issuer: Buffer | null, cb: (err: Error | null, resp?: Buffer) => void): void => {
    const s = this.staples.find((x) => x.der.equals(certificate));
    cb(null, s !== undefined && (s.nextUpdate === undefined || s.nextUpdate > Date.now()) ? s.response : undefined);
  };

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

function derOf(cert: LoadedCertificate): Buffer {
  const pem = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(cert.pem.cert)?.[1] ?? '';
  return Buffer.from(pem.replace(/\s+/g, ''), 'base64');
}
