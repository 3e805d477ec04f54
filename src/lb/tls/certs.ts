import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from '../../shared/errors.js';

/*
 * One certificate of the HTTPS listener, read from PEM and checked before it may replace anything:
 * a certificate that does not match its key, has expired, or is not PEM is a config error naming
 * the key (`lb.tls.certificates[0].certFile`, or what installed it) and the file, and whatever was
 * served before stays served.
 */

/** A certificate (with its chain after it, leaf first) and its private key, as PEM text. */
export interface CertificatePem {
  readonly cert: string;
  readonly key: string;
}

/** Where a certificate came from, for errors and status: the config key and the file (or `acme`, `local`...). */
export interface CertificateSource {
  readonly key: string;
  readonly certFile: string;
  readonly keyFile?: string;
}

export interface LoadedCertificate {
  readonly source: CertificateSource;
  /** DNS names (lower case; `*.example.com` for a wildcard) and IP addresses of the leaf's subjectAltName, else its CN. */
  readonly names: readonly string[];
  readonly notAfter: Date;
  /** SHA-256 fingerprint of the leaf, as openssl prints it. */
  readonly fingerprint256: string;
  /** The issuer's certificate when the chain carries it (OCSP needs it). */
  readonly issuerPem: string | undefined;
  /** The leaf's OCSP responder (Authority Information Access), when it names one. */
  readonly ocspUrl: string | undefined;
  readonly pem: CertificatePem;
  /** Leaf and chain as the server sends them, in a context with the listener's protocol settings. */
  readonly context: tls.SecureContext;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/**
 * Mozilla's "intermediate" configuration (ssl-config.mozilla.org, v5.7): TLS 1.3 suites, then
 * forward-secret AEAD suites for TLS 1.2. The DHE ones are negotiable only with DH parameters,
 * which we do not set (ECDHE covers every client of the last decade); listed to match the
 * published profile. Client preference kept (`honorCipherOrder` off), as the profile says: every
 * suite here is strong, and clients know whether they have AES hardware.
 */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':');
export const INTERMEDIATE_CURVES = 'X25519:prime256v1:secp384r1';

/** The protocol settings every context of the listener carries (the default one and each SNI one). */
export interface ProtocolSettings {
  /** Same on every load balancer of the cluster, or no session resumes on another (tickets.ts). */
  readonly sessionIdContext: string;
  /** How long a session may be resumed (s); the ticket lifetime hint. */
  readonly sessionTimeoutS: number;
}

export function secureContextOptions(pem: CertificatePem, p: ProtocolSettings): tls.SecureContextOptions {
  return {
    cert: pem.cert,
    key: pem.key,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: INTERMEDIATE_CIPHERS,
    ecdhCurve: INTERMEDIATE_CURVES,
    honorCipherOrder: false,
    sessionIdContext: p.sessionIdContext,
    sessionTimeout: p.sessionTimeoutS,
  };
}

function namesOf(x: X509Certificate): string[] {
  const out: string[] = [];
  for (const part of (x.subjectAltName ?? '').split(/,\s*/)) {
    const m = /^(DNS|IP Address):(.+)$/.exec(part.trim());
    if (m?.[2] !== undefined) out.push(m[2].toLowerCase());
  }
  if (out.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1];
    if (cn !== undefined) out.push(cn.toLowerCase());
  }
  return out;
}

function ocspUrlOf(x: X509Certificate): string | undefined {
  const m = /OCSP - URI:(\S+)/.exec(x.infoAccess ?? '');
  return m?.[1];
}

/** Checks and loads a certificate from PEM text. Throws a ConfigError naming `source` on bad input. */
export function loadCertificate(pem: CertificatePem, source: CertificateSource, p: ProtocolSettings, now: Date = new Date()): LoadedCertificate {
  const blocks = pem.cert.match(PEM_CERT) ?? [];
  const leafPem = blocks[0];
  if (leafPem === undefined) throw new ConfigError(`${source.key}`, `${source.certFile} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  if (!PEM_KEY.test(pem.key)) throw new ConfigError(`${source.key}`, `${source.keyFile ?? source.certFile} is not a PEM private key (no "-----BEGIN PRIVATE KEY-----" block)`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafPem);
  } catch (e) {
    throw new ConfigError(source.key, `${source.certFile} holds a certificate that cannot be read: ${(e as Error).message}`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem.key);
  } catch (e) {
    throw new ConfigError(
      source.key,
      `${source.keyFile ?? source.certFile} holds a private key that cannot be read (an encrypted key needs its passphrase removed): ${(e as Error).message}`,
    );
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError(source.key, `${source.certFile} and ${source.keyFile ?? 'its key'} do not match: the certificate was not made for this private key`);
  }
  const notAfter = new Date(leaf.validTo);
  if (!(notAfter.getTime() > now.getTime())) {
    throw new ConfigError(source.key, `${source.certFile} expired on ${notAfter.toISOString()}; renew it (or use lb.tls.acme)`);
  }
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(secureContextOptions(pem, p));
  } catch (e) {
    throw new ConfigError(source.key, `${source.certFile}: OpenSSL refuses this certificate or key: ${(e as Error).message}`);
  }
  return {
    source,
    names: namesOf(leaf),
    notAfter,
    fingerprint256: leaf.fingerprint256,
    issuerPem: blocks[1],
    ocspUrl: ocspUrlOf(leaf),
    pem,
    context,
  };
}

/** Reads the two files (a missing one is a config error naming its key) and loads them. */
export function loadCertificateFiles(source: Required<CertificateSource>, p: ProtocolSettings, now?: Date): LoadedCertificate {
  const read = (file: string, which: string): string => {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`${source.key}.${which}`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return loadCertificate({ cert: read(source.certFile, 'certFile'), key: read(source.keyFile, 'keyFile') }, source, p, now);
}
