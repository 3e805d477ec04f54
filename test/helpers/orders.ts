import mysql from 'mysql2/promise';
import { request } from 'undici';
import { readSecrets, readTopology, servicesOf } from '../../src/config/index.js';
import { DB_USERS } from '../../src/engines/index.js';
import { erpLogin } from './erp.js';

/** A small HTTP client for the ERP's order API through a load balancer, for failover tests. */
export interface OrderAnswer {
  readonly ok: boolean;
  readonly status: number;
  readonly id?: number;
  /** Why it failed: the app's error code and message, or the client's error (status 0). */
  readonly error?: string;
}

// A request through a load balancer on loopback takes milliseconds; 10 s covers the app's own
// database retry budget while a failover moves the primary.
const TIMEOUT_MS = 10_000;

/**
 * The ERP takes orders from logged-in users only: one session per base URL, made on first use.
 * Sessions live in Redis, so one made before a failover still works after it.
 */
const sessions = new Map<string, Promise<string>>();
function sessionFor(base: string): Promise<string> {
  let s = sessions.get(base);
  if (!s) {
    s = erpLogin(base);
    // A failed login is not cached: the next order tries again.
    s.catch(() => sessions.delete(base));
    sessions.set(base, s);
  }
  return s;
}

export async function postOrder(base: string, key: string): Promise<OrderAnswer> {
  try {
    const cookie = await sessionFor(base);
    const res = await request(`${base}/api/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, cookie },
      body: JSON.stringify({ customer: key, lines: [{ sku: 'WIDGET-RED', qty: 1 }] }),
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
    const body = (await res.body.json().catch(() => ({}))) as { id?: number; error?: { code?: string; message?: string } };
    const ok = res.statusCode === 200 || res.statusCode === 201;
    if (ok) return { ok, status: res.statusCode, ...(body.id !== undefined ? { id: Number(body.id) } : {}) };
    return { ok, status: res.statusCode, error: `${body.error?.code ?? '?'}: ${body.error?.message ?? ''}`.slice(0, 300) };
  } catch (e) {
    return { ok: false, status: 0, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/**
 * A stock receipt into the ERP's MAIN warehouse (orders reserve stock: a long write load needs
 * more than the seeded amount). `reference` is unique per receipt; a repeated one adds nothing.
 */
export async function restock(base: string, sku: string, qty: number, reference: string): Promise<void> {
  const cookie = await sessionFor(base);
  const res = await request(`${base}/api/stock/receipts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify({ reference, sku, warehouse: 'MAIN', qty }),
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`stock receipt ${reference}: HTTP ${res.statusCode} ${text}`);
}

/** Reads an order back as the user who placed it (the ERP shows a clerk only their own orders). */
export async function getOrder(base: string, id: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const cookie = await sessionFor(base);
  const res = await request(`${base}/api/orders/${id}`, { headers: { cookie }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  return { status: res.statusCode, body: (await res.body.json().catch(() => ({}))) as Record<string, unknown> };
}

/** `token`: the cluster's admin token (`readAdminToken(<state dir>)`): a fault changes state. */
export async function postFault(adminBase: string, fault: Record<string, string>, token: string): Promise<void> {
  const res = await request(`${adminBase}/v1/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(fault),
  });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`fault ${JSON.stringify(fault)} refused: HTTP ${res.statusCode}`);
}

/**
 * A known customer written on whichever database node is writable now (the backups' tests then
 * look for its name in the bytes of a backup): as the admin account, straight to the server.
 */
export async function insertCustomerOnPrimary(stateDir: string, code: string, name: string, email: string): Promise<void> {
  const topo = readTopology(stateDir);
  const secrets = readSecrets(stateDir);
  for (const svc of servicesOf(topo, 'mariadb')) {
    const c = await mysql.createConnection({ host: svc.address, port: svc.port, user: DB_USERS.admin, password: secrets.dbRootPassword, connectTimeout: 5000 });
    try {
      const [ro] = await c.query<mysql.RowDataPacket[]>('SELECT @@read_only AS ro');
      if (Number(ro[0]?.['ro']) === 0) {
        await c.query('INSERT INTO app.customers (code, name, email, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))', [code, name, email]);
      }
    } finally {
      await c.end();
    }
  }
}
