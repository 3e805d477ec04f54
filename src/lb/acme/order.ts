import crypto from 'node:crypto';
import https from 'node:https';
import acme from 'acme-client';
import { describeError, ErrorCode, HastackError } from '../../shared/errors.js';

/**
 * One ACME order over HTTP-01, with acme-client (RFC 8555; maintained, used by many Node
 * projects; supports any directory URL and any HTTPS agent). The challenge answers go through
 * `challenges` (the shared store), so whichever load balancer the CA reaches can serve them.
 */

/** Every request to the CA: 30 s. acme-client's axios has no timeout of its own, and a CA that stalls must not hold the lease forever. */
const REQUEST_TIMEOUT_MS = 30_000;
/** The directory check before an order: 10 s. */
const DIRECTORY_TIMEOUT_MS = 10_000;
/**
 * acme-client retries a failed request (connection refused, 5xx, 429) this many times, waiting
 * 5 s × the attempt number between: 3 is 30 s of retries per request (its default 5 is 75 s).
 */
const CLIENT_RETRIES = 3;
/** The whole order: 5 min (validation polls included); beyond it the order counts as failed and is retried with backoff. */
export const ORDER_TIMEOUT_MS = 5 * 60_000;

export interface OrderSettings {
  readonly directoryUrl: string;
  readonly email: string;
  readonly names: readonly string[];
  /** PEM of the CA(s) the directory's TLS certificate chains to, when not the system's. */
  readonly ca?: string;
}

export interface ChallengeStore {
  putChallenge(token: string, keyAuthorization: string): Promise<void>;
  deleteChallenge(token: string): Promise<void>;
}

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The id of the account row: one account per directory and email. Pure. */
export function accountId(directoryUrl: string, email: string): string {
  return crypto.createHash('sha256').update(`${directoryUrl}\n${email}`).digest('hex');
}

/** A fresh ACME account key (ECDSA P-256: small JWS signatures, every CA takes it). */
export async function newAccountKey(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString('utf8');
}

/**
 * Runs one order to its end: account (made or found from its key), order, HTTP-01 answers in the
 * store, validation by the CA, finalisation with a fresh ECDSA P-256 key, the chain. Throws a
 * HastackError ACME_FAILED saying which step failed.
 */
export async function orderCertificate(s: OrderSettings, accountKeyPem: string, challenges: ChallengeStore, onStep: (step: string, detail: string) => void): Promise<Issued> {
  // A CA that is down fails here, with its own reason, in one request (see checkDirectory).
  await checkDirectory(s);
  // acme-client's HTTP goes through one axios instance: the CA's trust and the timeout are set on it.
  acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
  acme.axios.defaults.httpsAgent = new https.Agent(s.ca === undefined ? { keepAlive: false } : { ca: s.ca, keepAlive: false });
  // acmeSettings is acme-client's own addition to its axios defaults (not in its typings).
  const settings = (acme.axios.defaults as unknown as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings;
  if (settings !== undefined) settings.retryMaxAttempts = CLIENT_RETRIES;
  const client = new acme.Client({ directoryUrl: s.directoryUrl, accountKey: accountKeyPem, backoffAttempts: 10, backoffMin: 1_000, backoffMax: 10_000 });
  const [keyPem, csr] = await acme.crypto.createCsr({ commonName: s.names[0], altNames: [...s.names] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
  let step = 'order';
  const run = client.auto({
    csr,
    email: s.email,
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // acme-client's own pre-check fetches http://NAME:80 through the system resolver; the CA's
    // validation is the one that counts, and it may see the names (and ports) differently.
    skipChallengeVerification: true,
    challengeCreateFn: async (authz, challenge, keyAuthorization) => {
      if (challenge.type !== 'http-01') throw new HastackError(ErrorCode.ACME_FAILED, `the CA offered no http-01 challenge for ${authz.identifier.value}`);
      step = 'challenge';
      await challenges.putChallenge(challenge.token, keyAuthorization);
      onStep('challenge', `HTTP-01 answer for ${authz.identifier.value} stored; waiting for the CA to fetch /.well-known/acme-challenge/${challenge.token}`);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      step = 'finalize';
      await challenges.deleteChallenge(challenge.token);
    },
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HastackError(ErrorCode.ACME_FAILED, `the ACME order did not finish within ${ORDER_TIMEOUT_MS / 1000} s (at step ${step})`)),
      ORDER_TIMEOUT_MS,
    );
  });
  try {
    const certPem = await Promise.race([run, timeout]);
    return { certPem, keyPem: keyPem.toString('utf8') };
  } catch (e) {
    if (e instanceof HastackError) throw e;
    // acme-client 5.4 ends its retries of a request that got no response with a TypeError
    // (it reads the missing response's config): say what happened instead.
    const why = e instanceof TypeError && /reading 'config'/.test(e.message) ? 'the ACME server stopped answering (no response after retries)' : describeError(e);
    throw new HastackError(ErrorCode.ACME_FAILED, `ACME ${step} at ${s.directoryUrl} failed: ${why}`, { cause: e });
  } finally {
    clearTimeout(timer);
    // The losing side of the race must not be an unhandled rejection.
    run.catch(() => undefined);
  }
}

/**
 * GET the directory once (10 s, the configured CA): a CA that is down or a wrong URL is a clear
 * error ("connect ECONNREFUSED …", "HTTP 404") before acme-client's retries, which end in an
 * unhelpful TypeError when no response ever came.
 */
function checkDirectory(s: OrderSettings): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => reject(new HastackError(ErrorCode.ACME_FAILED, `ACME directory ${s.directoryUrl} unreachable: ${why}`));
    const req = https.get(s.directoryUrl, { ...(s.ca === undefined ? {} : { ca: s.ca }), timeout: DIRECTORY_TIMEOUT_MS, agent: false }, (res) => {
      let size = 0;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        // A directory is a few hundred bytes; 64 KiB bounds what a wrong URL can send.
        size += d.length;
        if (size > 65_536) req.destroy(new Error('answer over 64 KiB'));
        else parts.push(d);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode ?? '?'}`);
        try {
          const dir = JSON.parse(Buffer.concat(parts).toString('utf8')) as { newOrder?: unknown };
          if (typeof dir.newOrder !== 'string') return fail('the answer is not an ACME directory (no newOrder)');
        } catch {
          return fail('the answer is not JSON');
        }
        resolve();
      });
      res.on('error', (e) => fail(describeError(e)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${DIRECTORY_TIMEOUT_MS / 1000} s`)));
    req.on('error', (e) => fail(describeError(e)));
  });
}
