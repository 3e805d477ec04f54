import { HttpError } from '../../src/app/index.js';

/** Request parsing for the ERP: pure functions, each throwing a 400 that says what to fix. */

export interface OrderLineInput {
  readonly sku: string;
  readonly qty: number;
}

export interface OrderInput {
  readonly customer: string;
  readonly lines: readonly OrderLineInput[];
}

// Limits that keep one order a reasonable transaction (row locks, statement size).
export const MAX_LINES = 50;
export const MAX_QTY = 10_000;
const SKU = /^[A-Za-z0-9._-]{1,64}$/;
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
  const { customer, lines } = body;
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
  return { customer: customer.trim(), lines: parsed };
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
