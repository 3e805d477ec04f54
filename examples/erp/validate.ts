import { HttpError } from '../../src/app/index.js';

/** Request parsing for the ERP: pure functions, each throwing a 400 that says what to fix. */

export interface OrderLineInput {
  readonly sku: string;
  readonly qty: number;
}

export interface OrderInput {
  readonly customer: string;
  readonly lines: readonly OrderLineInput[];
  /** Take every line from this warehouse; absent: each line from the one with the most stock. */
  readonly warehouse?: string;
}

// Limits that keep one order a reasonable transaction (row locks, statement size).
export const MAX_LINES = 50;
export const MAX_QTY = 10_000;
const SKU = /^[A-Za-z0-9._-]{1,64}$/;
const WAREHOUSE = /^[A-Z0-9_-]{1,32}$/;
const CUSTOMER_CODE = /^[A-Za-z0-9._-]{1,64}$/;
const USERNAME = /^[a-z0-9._-]{1,64}$/;
// Printable ASCII without spaces: safe in logs and as a unique key; UUIDs and ULIDs fit.
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

function bad(code: string, message: string): HttpError {
  return new HttpError(400, code, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseOrderInput(body: unknown): OrderInput {
  if (!isObject(body)) throw bad('INVALID_ORDER', 'the body must be a JSON object like {"customer":"ACME","lines":[{"sku":"GADGET","qty":1}]}');
  const { customer, lines, warehouse } = body;
  if (typeof customer !== 'string' || customer.trim() === '') throw bad('INVALID_ORDER', 'customer: required, a non-empty string');
  if (customer.trim().length > 200) throw bad('INVALID_ORDER', 'customer: at most 200 characters');
  if (!Array.isArray(lines) || lines.length === 0) throw bad('INVALID_ORDER', 'lines: required, a non-empty array of {sku, qty}');
  if (lines.length > MAX_LINES) throw bad('INVALID_ORDER', `lines: at most ${MAX_LINES} lines per order`);
  const seen = new Set<string>();
  const parsed = lines.map((line: unknown, i): OrderLineInput => {
    if (!isObject(line)) throw bad('INVALID_ORDER', `lines[${i}]: must be an object {sku, qty}`);
    const { sku, qty } = line;
    if (typeof sku !== 'string' || !SKU.test(sku)) throw bad('INVALID_ORDER', `lines[${i}].sku: 1-64 letters, digits, . _ -`);
    if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > MAX_QTY) {
      throw bad('INVALID_ORDER', `lines[${i}].qty: an integer from 1 to ${MAX_QTY}`);
    }
    if (seen.has(sku)) throw bad('INVALID_ORDER', `lines[${i}].sku: ${sku} is listed twice; put the whole quantity on one line`);
    seen.add(sku);
    return { sku, qty };
  });
  if (warehouse !== undefined && (typeof warehouse !== 'string' || !WAREHOUSE.test(warehouse))) {
    throw bad('INVALID_ORDER', 'warehouse: 1-32 upper-case letters, digits, _ or - (GET /api/warehouses lists them), or leave it out');
  }
  return { customer: customer.trim(), lines: parsed, ...(warehouse === undefined ? {} : { warehouse }) };
}

export interface LoginInput {
  readonly username: string;
  readonly password: string;
}

export function parseLogin(body: unknown): LoginInput {
  if (!isObject(body)) throw bad('INVALID_LOGIN', 'the body must be a JSON object like {"username":"clerk","password":"..."}');
  const { username, password } = body;
  if (typeof username !== 'string' || !USERNAME.test(username)) throw bad('INVALID_LOGIN', 'username: required, 1-64 lower-case letters, digits, . _ -');
  if (typeof password !== 'string' || password.length < 1 || password.length > 200) throw bad('INVALID_LOGIN', 'password: required, 1-200 characters');
  return { username, password };
}

export interface CustomerInput {
  readonly code: string;
  readonly name: string;
  readonly email: string | null;
}

export function parseCustomerInput(body: unknown): CustomerInput {
  if (!isObject(body)) throw bad('INVALID_CUSTOMER', 'the body must be a JSON object like {"code":"ACME","name":"Acme Ltd"}');
  const { code, name, email } = body;
  if (typeof code !== 'string' || !CUSTOMER_CODE.test(code)) throw bad('INVALID_CUSTOMER', 'code: required, 1-64 letters, digits, . _ -');
  if (typeof name !== 'string' || name.trim() === '' || name.trim().length > 200) throw bad('INVALID_CUSTOMER', 'name: required, 1-200 characters');
  // A light check: one @ with something on each side; the mail server is the real judge.
  if (email !== undefined && email !== null && (typeof email !== 'string' || !/^[^\s@]{1,64}@[^\s@]{1,190}$/.test(email))) {
    throw bad('INVALID_CUSTOMER', 'email: an address like name@example.com, or leave it out');
  }
  return { code, name: name.trim(), email: typeof email === 'string' ? email : null };
}

export interface ItemInput {
  readonly sku: string;
  readonly name: string;
  readonly priceCents: number;
  readonly reorderLevel: number;
  /** Opening stock put into one warehouse (a ledger row of reason "opening"). */
  readonly opening?: { readonly warehouse: string; readonly qty: number };
}

function intField(v: unknown, field: string, min: number, max: number, code: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(code, `${field}: an integer from ${min} to ${max}`);
  return v;
}

export function parseItemInput(body: unknown): ItemInput {
  if (!isObject(body)) throw bad('INVALID_ITEM', 'the body must be a JSON object like {"sku":"BOLT","name":"Bolt","priceCents":10}');
  const { sku, name, priceCents, reorderLevel, opening } = body;
  if (typeof sku !== 'string' || !SKU.test(sku)) throw bad('INVALID_ITEM', 'sku: required, 1-64 letters, digits, . _ -');
  if (typeof name !== 'string' || name.trim() === '' || name.trim().length > 200) throw bad('INVALID_ITEM', 'name: required, 1-200 characters');
  const price = intField(priceCents, 'priceCents', 0, 100_000_000, 'INVALID_ITEM');
  const level = reorderLevel === undefined ? 0 : intField(reorderLevel, 'reorderLevel', 0, 1_000_000, 'INVALID_ITEM');
  if (opening === undefined) return { sku, name: name.trim(), priceCents: price, reorderLevel: level };
  if (!isObject(opening)) throw bad('INVALID_ITEM', 'opening: an object {warehouse, qty}, or leave it out');
  if (typeof opening.warehouse !== 'string' || !WAREHOUSE.test(opening.warehouse)) throw bad('INVALID_ITEM', 'opening.warehouse: 1-32 upper-case letters, digits, _ or -');
  const qty = intField(opening.qty, 'opening.qty', 1, 10_000_000, 'INVALID_ITEM');
  return { sku, name: name.trim(), priceCents: price, reorderLevel: level, opening: { warehouse: opening.warehouse, qty } };
}

/** The `Idempotency-Key` header, or undefined when absent. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw bad('INVALID_IDEMPOTENCY_KEY', 'Idempotency-Key: 1-128 printable ASCII characters without spaces (a UUID is ideal)');
  }
  return header;
}

export function parseOrderId(param: string | undefined): number {
  // Digits only, within BIGINT's safe range for JavaScript numbers.
  if (param === undefined || !/^[1-9]\d{0,14}$/.test(param)) throw bad('INVALID_ORDER_ID', 'order id: a positive integer');
  return Number(param);
}

export function parseSku(param: string | undefined): string {
  if (param === undefined || !SKU.test(param)) throw bad('INVALID_SKU', 'sku: 1-64 letters, digits, . _ -');
  return param;
}

/** Job data of `confirm-order`. Not an HTTP request: a malformed job is a bug, so plain Error. */
export function parseConfirmJob(data: unknown): { orderId: number } {
  if (!isObject(data) || typeof data.orderId !== 'number' || !Number.isSafeInteger(data.orderId) || data.orderId < 1) {
    throw new Error(`confirm-order needs {"orderId": <positive integer>}, got ${JSON.stringify(data)}`);
  }
  return { orderId: data.orderId };
}

/** Same order content? (An idempotency key reused for a different order is refused.) */
export function sameOrder(a: OrderInput, b: OrderInput): boolean {
  if (a.customer !== b.customer || a.lines.length !== b.lines.length) return false;
  const key = (l: OrderLineInput): string => `${l.sku}\u0000${l.qty}`;
  const left = a.lines.map(key).sort();
  const right = b.lines.map(key).sort();
  return left.every((k, i) => k === right[i]);
}

export interface ReceiptInput {
  readonly reference: string;
  readonly sku: string;
  readonly warehouse: string;
  readonly qty: number;
}

export function parseReceiptInput(body: unknown): ReceiptInput {
  if (!isObject(body)) throw bad('INVALID_RECEIPT', 'the body must be a JSON object like {"reference":"PO-1","sku":"GADGET","warehouse":"MAIN","qty":10}');
  const { reference, sku, warehouse, qty } = body;
  if (typeof reference !== 'string' || !IDEMPOTENCY_KEY.test(reference)) throw bad('INVALID_RECEIPT', 'reference: required, 1-128 printable characters without spaces');
  if (typeof sku !== 'string' || !SKU.test(sku)) throw bad('INVALID_RECEIPT', 'sku: required, 1-64 letters, digits, . _ -');
  if (typeof warehouse !== 'string' || !WAREHOUSE.test(warehouse)) throw bad('INVALID_RECEIPT', 'warehouse: required, 1-32 upper-case letters, digits, _ or -');
  return { reference, sku, warehouse, qty: intField(qty, 'qty', 1, 10_000_000, 'INVALID_RECEIPT') };
}
