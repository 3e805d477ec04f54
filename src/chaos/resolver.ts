import { resolveService, type DnsServerAddress } from '../dns/index.js';

/**
 * A client's view of the service name, as a stub resolver keeps it: the answer is cached for its
 * TTL; when it expires it is asked again, server after server; if no DNS server answers, the
 * last answer is kept (serve-stale) rather than leaving the client with nowhere to go.
 */
export class ServiceResolver {
  private addresses: string[] = [];
  private expiresAt = 0;
  private pending: Promise<string[]> | undefined;

  constructor(
    private readonly servers: readonly DnsServerAddress[],
    private readonly name: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Current load-balancer addresses (resolving again when the TTL ran out). */
  async resolve(): Promise<string[]> {
    if (this.addresses.length > 0 && this.now() < this.expiresAt) return this.addresses;
    this.pending ??= this.refresh().finally(() => (this.pending = undefined));
    return this.pending;
  }

  /** Forget the cached answer: the caller saw every address fail. */
  invalidate(): void {
    this.expiresAt = 0;
  }

  private async refresh(): Promise<string[]> {
    try {
      // 500 ms a server: a DNS server on the LAN answers in well under a millisecond.
      const answer = await resolveService(this.servers, this.name, 500);
      this.addresses = answer.addresses;
      this.expiresAt = this.now() + answer.ttlS * 1000;
    } catch (e) {
      if (this.addresses.length === 0) throw e;
      this.expiresAt = this.now() + 1000; // serve stale, ask again in a second
    }
    return this.addresses;
  }
}
