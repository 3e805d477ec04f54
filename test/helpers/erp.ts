/** Small HTTP helpers for tests of the example ERP (examples/erp). */

export type Json = Record<string, unknown>;

export interface Answer {
  readonly status: number;
  readonly body: Json;
  /** The app server that answered (the host sets X-Served-By). */
  readonly servedBy: string | null;
  /** The first Set-Cookie pair ("name=value"), when one was set. */
  readonly cookie: string | undefined;
}

/** One request; 30 s bound: far above a loaded two-core machine's answer, bounds a hung server. */
export async function call(base: string, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(base + url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: Json = {};
  try {
    parsed = text === '' ? {} : (JSON.parse(text) as Json);
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, body: parsed, servedBy: res.headers.get('x-served-by'), cookie: res.headers.get('set-cookie')?.split(';')[0] };
}

/** The demo users of the ERP's migration 005. */
export const ERP_ADMIN = { username: 'admin', password: 'admin-demo' } as const;
export const ERP_CLERK = { username: 'clerk', password: 'clerk-demo' } as const;

/** Logs in and returns the `cookie` header value to send; throws when login fails. */
export async function erpLogin(base: string, user: { username: string; password: string } = ERP_CLERK): Promise<string> {
  const r = await call(base, 'POST', '/login', user);
  if (r.status !== 200 || r.cookie === undefined) throw new Error(`login as ${user.username} at ${base}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
  return r.cookie;
}
