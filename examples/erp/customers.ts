import { HttpError, isDuplicateKeyError, respond, type AppContext, type HttpResponse } from '../../src/app/index.js';
import type { CustomerInput } from './validate.js';

export interface Customer {
  readonly code: string;
  readonly name: string;
  readonly email: string | null;
}

export async function listCustomers(ctx: AppContext): Promise<{ customers: Customer[] }> {
  const rows = await ctx.db.query<{ code: string; name: string; email: string | null }>('SELECT code, name, email FROM customers ORDER BY code LIMIT 1000', [], {
    readFrom: 'replica',
  });
  return { customers: rows.map((r) => ({ code: r.code, name: r.name, email: r.email })) };
}

/**
 * Creates a customer: 201, or 200 when the same customer already exists (a retry), or 409 when
 * the code is taken by a different one. The code is the natural key, so retries are safe.
 */
export async function createCustomer(ctx: AppContext, input: CustomerInput): Promise<HttpResponse> {
  try {
    await ctx.db.execute('INSERT INTO customers (code, name, email, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))', [input.code, input.name, input.email], {
      // Safe to re-run: a second insert of the same code is a duplicate key, answered below.
      idempotent: true,
    });
    return respond(201, input, { location: `/api/customers/${input.code}` });
  } catch (e) {
    if (!isDuplicateKeyError(e)) throw e;
  }
  const [c] = await ctx.db.query<{ code: string; name: string; email: string | null }>('SELECT code, name, email FROM customers WHERE code = ?', [input.code]);
  if (c && c.name === input.name && c.email === input.email) return respond(200, { code: c.code, name: c.name, email: c.email });
  throw new HttpError(409, 'CUSTOMER_EXISTS', `code: customer ${input.code} already exists with other details`);
}
