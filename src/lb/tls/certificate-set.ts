import type tls from 'node:tls';
import { loadCertificate, type CertificatePem, type CertificateSource, type LoadedCertificate, type ProtocolSettings } from './certs.js';

/*
 * The certificates one HTTPS listener serves, replaceable at runtime. The listener reads it on
 * every handshake (SNICallback, and the default context for clients that send no name), so a
 * `replace()` is what the next handshake sees, while connections already made keep the
 * certificate they were made with: nothing is dropped by a renewal.
 *
 * Certificates live in named slots: `files` (lb.tls.certificates), `local` (the cluster's own
 * CA), `acme` (renewals). Replacing a slot replaces all of its certificates at once. The default
 * certificate (clients without SNI, or with a name no certificate carries) is the first of the
 * first slot that has any, in the order slots were first filled (the configured files before ACME).
 */

export interface CertificateView {
  readonly slot: string;
  readonly source: string;
  readonly names: readonly string[];
  readonly notAfter: string;
  readonly fingerprint256: string;
}

export type CertificateSetListener = (set: CertificateSet) => void;

export class CertificateSet {
  private readonly slots = new Map<string, readonly LoadedCertificate[]>();
  private exact = new Map<string, LoadedCertificate>();
  private wildcard = new Map<string, LoadedCertificate>();
  private fallback: LoadedCertificate | undefined;
  private readonly listeners: CertificateSetListener[] = [];
  /** Bumped on every change; a listener can tell whether it has seen this one. */
  version = 0;

  constructor(readonly protocol: ProtocolSettings) {}

  /**
   * Checks and installs PEM certificates into `slot`, replacing what it held. Throws (a
   * ConfigError naming the source) on bad input and changes nothing then.
   */
  replace(slot: string, certs: ReadonlyArray<{ readonly pem: CertificatePem; readonly source: CertificateSource }>): readonly LoadedCertificate[] {
    const loaded = certs.map((c) => loadCertificate(c.pem, c.source, this.protocol));
    this.install(slot, loaded);
    return loaded;
  }

  /** Installs already loaded certificates into `slot` (an empty list empties it). */
  install(slot: string, certs: readonly LoadedCertificate[]): void {
    if (certs.length === 0) this.slots.delete(slot);
    else this.slots.set(slot, certs);
    this.rebuild();
  }

  remove(slot: string): void {
    this.install(slot, []);
  }

  /** Called after every change (the listener swaps its default context there). */
  onChange(listener: CertificateSetListener): void {
    this.listeners.push(listener);
  }

  /** The certificate for an SNI name: exact name, then `*.` one label up, then the default. */
  select(servername: string | undefined): LoadedCertificate | undefined {
    if (servername !== undefined && servername !== '') {
      const name = servername.toLowerCase();
      const hit = this.exact.get(name);
      if (hit !== undefined) return hit;
      const dot = name.indexOf('.');
      if (dot > 0) {
        const wild = this.wildcard.get(name.slice(dot + 1));
        if (wild !== undefined) return wild;
      }
    }
    return this.fallback;
  }

  get defaultCertificate(): LoadedCertificate | undefined {
    return this.fallback;
  }

  /** For tls.createServer: the context of the certificate that carries the name the client asked for. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.select(servername)?.context);
  };

  all(): Array<{ slot: string; cert: LoadedCertificate }> {
    const out: Array<{ slot: string; cert: LoadedCertificate }> = [];
    for (const [slot, certs] of this.slots) for (const cert of certs) out.push({ slot, cert });
    return out;
  }

  /** What status and `/-/stats` show: names and expiry per certificate (no key material). */
  view(): CertificateView[] {
    return this.all().map(({ slot, cert }) => ({
      slot,
      source: cert.source.certFile,
      names: cert.names,
      notAfter: cert.notAfter.toISOString(),
      fingerprint256: cert.fingerprint256,
    }));
  }

  private rebuild(): void {
    const exact = new Map<string, LoadedCertificate>();
    const wildcard = new Map<string, LoadedCertificate>();
    let fallback: LoadedCertificate | undefined;
    // Earlier slots win a name both carry: the operator's files over ACME's, as the default does.
    for (const certs of this.slots.values()) {
      for (const cert of certs) {
        fallback ??= cert;
        for (const n of cert.names) {
          if (n.startsWith('*.')) {
            if (!wildcard.has(n.slice(2))) wildcard.set(n.slice(2), cert);
          } else if (!exact.has(n)) exact.set(n, cert);
        }
      }
    }
    this.exact = exact;
    this.wildcard = wildcard;
    this.fallback = fallback;
    this.version += 1;
    for (const l of this.listeners) l(this);
  }
}
