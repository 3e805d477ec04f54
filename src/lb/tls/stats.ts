import { Counter, Gauge, type Registry } from 'prom-client';
import type { CertificateSet } from './certificate-set.js';

/*
 * Counters of the HTTPS listener, plain numbers updated per handshake and read by Prometheus when
 * it scrapes (like metrics.ts): handshakes (full or resumed), failed handshakes by reason, and
 * the certificates' expiry.
 */

/** A fixed set of reasons, so a client cannot grow the label set with odd errors. */
export const HANDSHAKE_FAILURE_REASONS = ['protocol-version', 'no-shared-cipher', 'timeout', 'reset', 'not-tls', 'other'] as const;
export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

export function failureReasonOf(err: NodeJS.ErrnoException): HandshakeFailureReason {
  const code = err.code ?? '';
  const msg = err.message ?? '';
  if (/UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|WRONG_VERSION|TLSV1_ALERT_PROTOCOL_VERSION/i.test(code + msg) && !/wrong version number/i.test(msg)) return 'protocol-version';
  if (/NO_SHARED_CIPHER|NO_CIPHERS|no shared cipher/i.test(code + msg)) return 'no-shared-cipher';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (/wrong version number|http request|packet length too long/i.test(msg)) return 'not-tls';
  return 'other';
}

export class TlsStats {
  fullHandshakes = 0;
  resumedHandshakes = 0;
  /** Resumptions with a ticket of the previous key period (served by the twin server). */
  previousKeyResumptions = 0;
  readonly failures: Record<HandshakeFailureReason, number> = Object.fromEntries(HANDSHAKE_FAILURE_REASONS.map((r) => [r, 0])) as Record<HandshakeFailureReason, number>;

  handshakeDone(resumed: boolean): void {
    if (resumed) this.resumedHandshakes += 1;
    else this.fullHandshakes += 1;
  }

  handshakeFailed(err: NodeJS.ErrnoException): HandshakeFailureReason {
    const reason = failureReasonOf(err);
    this.failures[reason] += 1;
    return reason;
  }

  view(): { handshakes: { full: number; resumed: number; previousKey: number }; handshakeFailures: Record<HandshakeFailureReason, number> } {
    return {
      handshakes: { full: this.fullHandshakes, resumed: this.resumedHandshakes, previousKey: this.previousKeyResumptions },
      handshakeFailures: { ...this.failures },
    };
  }
}

export function registerTlsMetrics(registry: Registry, stats: TlsStats, certs: CertificateSet): void {
  new Counter({
    name: 'hastack_lb_tls_handshakes_total',
    help: 'Completed TLS handshakes on the HTTPS listener, by whether the session was resumed.',
    labelNames: ['resumed'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ resumed: 'false' }, stats.fullHandshakes);
      this.inc({ resumed: 'true' }, stats.resumedHandshakes);
    },
  });
  new Counter({
    name: 'hastack_lb_tls_handshake_failures_total',
    help: 'Failed TLS handshakes, by reason (protocol-version: TLS 1.1 or older; no-shared-cipher; timeout; reset; not-tls; other).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const r of HANDSHAKE_FAILURE_REASONS) this.inc({ reason: r }, stats.failures[r]);
    },
  });
  new Gauge({
    name: 'hastack_lb_tls_certificate_expiry_seconds',
    help: 'Seconds until each served certificate expires, by slot and first name.',
    labelNames: ['slot', 'name'],
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      for (const { slot, cert } of certs.all()) this.set({ slot, name: cert.names[0] ?? '' }, Math.round((cert.notAfter.getTime() - now) / 1000));
    },
  });
}
