import { tokenMatches } from './admin-token.js';

/**
 * The admin API's door, pure so it is unit-tested: which requests reach a handler.
 *
 * - Host: must name the admin address or a loopback name (`localhost`, `127.0.0.1`, `[::1]`: an
 *   SSH tunnel's local end), any port. A page on another domain that re-resolves its name to our
 *   address (DNS rebinding) sends its own name here, and is refused.
 * - Origin / Sec-Fetch-Site: a browser marks every cross-origin request; one from another origin
 *   (or `null`, a sandboxed frame) is refused, reads included. Our own page sends none or its own.
 * - Anything but GET/HEAD changes state (or is a CORS preflight, which we never grant): it needs the
 *   token. A page cannot add `Authorization` to a cross-origin request without a preflight, so a
 *   `text/plain` form POST from another site never carries it.
 * - POST bodies must be `application/json`: a second reason for the browser to preflight.
 */
export interface GuardRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface GuardPolicy {
  /** The address the API listens on (the admin address). */
  readonly address: string;
  readonly token: string;
}

export type GuardVerdict = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 401 | 403 | 415; readonly code: string; readonly message: string };

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function header(req: GuardRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `host[:port]` → host (an IPv6 literal keeps its brackets). Undefined when malformed. */
export function hostnameOf(hostHeader: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/]+)(?::(\d{1,5}))?$/.exec(hostHeader.trim());
  return m?.[1]?.toLowerCase();
}

function allowedHost(hostname: string, policy: GuardPolicy): boolean {
  return hostname === policy.address.toLowerCase() || hostname === `[${policy.address.toLowerCase()}]` || LOOPBACK_NAMES.has(hostname);
}

function refuse(status: 400 | 401 | 403 | 415, code: string, message: string): GuardVerdict {
  return { ok: false, status, code, message };
}

export function guardRequest(req: GuardRequest, policy: GuardPolicy): GuardVerdict {
  const host = header(req, 'host');
  const hostname = host === undefined ? undefined : hostnameOf(host);
  if (hostname === undefined || !allowedHost(hostname, policy)) {
    return refuse(403, 'FORBIDDEN_HOST', `Host "${host ?? ''}" is not this admin API's address (${policy.address}) or a loopback name; open http://${policy.address}:PORT/ itself`);
  }
  const origin = header(req, 'origin');
  if (origin !== undefined) {
    let originHost: string | undefined;
    try {
      const u = new URL(origin);
      originHost = u.protocol === 'http:' ? u.host.toLowerCase() : undefined;
    } catch {
      originHost = undefined;
    }
    if (originHost === undefined || originHost !== host?.trim().toLowerCase()) {
      return refuse(403, 'FORBIDDEN_ORIGIN', `cross-origin request from "${origin}" refused: the admin API answers only its own page and the CLI`);
    }
  }
  const site = header(req, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return refuse(403, 'FORBIDDEN_ORIGIN', `cross-site request (Sec-Fetch-Site: ${site}) refused: the admin API answers only its own page and the CLI`);
  }
  const method = req.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD') return { ok: true };
  const auth = header(req, 'authorization');
  const given = auth !== undefined && /^Bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
  if (!tokenMatches(policy.token, given)) {
    return refuse(401, 'UNAUTHORIZED', 'this request changes the cluster and needs the admin token (Authorization: Bearer, from <state dir>/admin-token); use the hastack CLI');
  }
  const type = header(req, 'content-type');
  if (method === 'POST' && !/^application\/json(\s*;|$)/i.test(type ?? '')) {
    return refuse(415, 'UNSUPPORTED_MEDIA_TYPE', `the body must be application/json, not "${type ?? '(none)'}"`);
  }
  return { ok: true };
}
