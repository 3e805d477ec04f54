import fs from 'node:fs';
import { edgeTlsFiles, lbTlsLocal, shippedAcmeCaFile, shippedCertificateFiles, substrateTraits, type Topology } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import type { CertificateSet } from './certificate-set.js';
import { loadCertificateFiles, type LoadedCertificate, type ProtocolSettings } from './certs.js';

/*
 * Where a load balancer reads its certificate files, and their reload:
 * - `lb.tls.certificates` on local/netns: the files named in hastack.yaml (made absolute by
 *   resolveTopology); on hosts: the copies `deploy` ships to `<hosts.stateDir>/<cluster>/tls/lb-<i>.crt|key`
 *   (0600, owned by the service user);
 * - `lb.tls.local`: the cluster CA's edge certificate (`<stateDir>/tls/lb_edge.crt`, made by `up`).
 * A change of any of these files (polled every 500 ms), or SIGHUP, reloads the slot; a bad new
 * file is logged and the certificate served so far stays.
 */

/** The slot of the CertificateSet the configured files fill. */
export const FILES_SLOT = 'files';

export interface CertificateFileSource {
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** The ACME CA file this load balancer reads: as configured, or on hosts the copy deploy shipped; undefined when none is set. */
export function acmeCaFile(topo: Topology): string | undefined {
  const f = topo.config.lb.tls?.acme?.caFile;
  if (f === undefined) return undefined;
  return substrateTraits(topo.config).nodesAreMachines ? shippedAcmeCaFile(topo.config) : f;
}

/** The certificate files as hastack.yaml names them, on the operator's machine (what deploy ships, what `up` checks). */
export function configuredCertificateSources(topo: Topology): CertificateFileSource[] {
  const t = topo.config.lb.tls;
  if (t === undefined) return [];
  if (t.certificates !== undefined) return t.certificates.map((c, i) => ({ key: `lb.tls.certificates[${i}]`, ...c }));
  if (lbTlsLocal(topo.config)) {
    const f = edgeTlsFiles(topo);
    return [{ key: 'lb.tls.local', certFile: f.cert, keyFile: f.key }];
  }
  return [];
}

/** The certificate files this load balancer serves: as configured, or on hosts the copies deploy shipped. */
export function certificateFileSources(topo: Topology): CertificateFileSource[] {
  const configured = configuredCertificateSources(topo);
  if (!substrateTraits(topo.config).nodesAreMachines) return configured;
  return configured.map((c, i) => ({ key: c.key, ...shippedCertificateFiles(topo.config, i) }));
}

/**
 * Checks the configured certificate files before anything starts (`up`, `deploy`): a bad one is
 * a ConfigError naming its key and file. Returns what they hold (names, expiry) for the output.
 */
export function checkCertificateFiles(topo: Topology): LoadedCertificate[] {
  // The protocol settings do not matter for a check; the listener builds its own contexts.
  return loadSources(configuredCertificateSources(topo), { sessionIdContext: 'check', sessionTimeoutS: 60 });
}

/** Loads every source (a ConfigError naming the key and file on the first bad one). */
export function loadSources(sources: readonly CertificateFileSource[], p: ProtocolSettings): LoadedCertificate[] {
  return sources.map((s) => loadCertificateFiles(s, p));
}

/**
 * Keeps the files slot of `set` in step with the files: polled every 500 ms (so a new certificate
 * is served within a second of being written), and reloaded on `reload()` (SIGHUP).
 */
export class CertificateFileWatch {
  private readonly watched: string[];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sources: readonly CertificateFileSource[],
    private readonly set: CertificateSet,
    private readonly log: Logger,
  ) {
    this.watched = [...new Set(sources.flatMap((s) => [s.certFile, s.keyFile]))];
  }

  /** Reloads now; false (and the old certificates kept) when a file is bad. */
  reload(why: string): boolean {
    try {
      const loaded = loadSources(this.sources, this.set.protocol);
      const before = this.set
        .all()
        .filter((c) => c.slot === FILES_SLOT)
        .map((c) => c.cert.fingerprint256)
        .join();
      this.set.install(FILES_SLOT, loaded);
      const after = loaded.map((c) => c.fingerprint256).join();
      if (before !== after) this.log.info({ why, certificates: this.set.view() }, `TLS certificates reloaded (${why})`);
      return true;
    } catch (e) {
      this.log.error({ why, err: (e as Error).message }, `TLS certificates not reloaded (${why}); still serving the previous ones: ${(e as Error).message}`);
      return false;
    }
  }

  start(): void {
    // 500 ms: half the "served within a second" promise; a stat of a few files is cheap.
    let last = this.signature();
    this.timer = setInterval(() => {
      const now = this.signature();
      if (now === last) return;
      last = now;
      this.reload('a certificate file changed');
    }, 500);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Inode, size and mtime of each file: a rename over it or a rewrite both change it. */
  private signature(): string {
    return this.watched
      .map((f) => {
        try {
          const st = fs.statSync(f);
          return `${st.ino}:${st.size}:${st.mtimeMs}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }
}
