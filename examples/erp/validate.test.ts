import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from '../../src/app/index.js';
import { parseConfirmJob, parseCustomerInput, parseIdempotencyKey, parseItemInput, parseLogin, parseOrderId, parseOrderInput, parseReceiptInput, sameOrder } from './validate.js';

function rejects400(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof HttpError && e.status === 400 && message.test(e.message));
}

describe('ERP order validation', () => {
  it('accepts a valid order and trims the customer', () => {
    assert.deepEqual(parseOrderInput({ customer: ' ACME ', lines: [{ sku: 'GADGET', qty: 2 }] }), {
      customer: 'ACME',
      lines: [{ sku: 'GADGET', qty: 2 }],
    });
  });

  it('says which field is wrong', () => {
    rejects400(() => parseOrderInput(null), /JSON object/);
    rejects400(() => parseOrderInput([]), /JSON object/);
    rejects400(() => parseOrderInput({ lines: [{ sku: 'A', qty: 1 }] }), /^customer/);
    rejects400(() => parseOrderInput({ customer: 'x'.repeat(201), lines: [{ sku: 'A', qty: 1 }] }), /^customer: at most/);
    rejects400(() => parseOrderInput({ customer: 'c', lines: [] }), /^lines/);
    rejects400(() => parseOrderInput({ customer: 'c', lines: [{ sku: 'A', qty: 0 }] }), /lines\[0\]\.qty/);
    rejects400(() => parseOrderInput({ customer: 'c', lines: [{ sku: 'A', qty: 1.5 }] }), /lines\[0\]\.qty/);
    rejects400(() => parseOrderInput({ customer: 'c', lines: [{ sku: 'A', qty: '1' }] }), /lines\[0\]\.qty/);
    rejects400(() => parseOrderInput({ customer: 'c', lines: [{ sku: 'bad sku', qty: 1 }] }), /lines\[0\]\.sku/);
    rejects400(
      () =>
        parseOrderInput({
          customer: 'c',
          lines: [
            { sku: 'A', qty: 1 },
            { sku: 'A', qty: 2 },
          ],
        }),
      /lines\[1\]\.sku: A is listed twice/,
    );
    rejects400(() => parseOrderInput({ customer: 'c', lines: Array.from({ length: 51 }, (_, i) => ({ sku: `S${i}`, qty: 1 })) }), /at most 50/);
  });

  it('checks the Idempotency-Key header and order ids', () => {
    assert.equal(parseIdempotencyKey(undefined), undefined);
    assert.equal(parseIdempotencyKey('0b6f6f1e-1f0e-4c7e-9a43-3c4a1d7b2f10'), '0b6f6f1e-1f0e-4c7e-9a43-3c4a1d7b2f10');
    rejects400(() => parseIdempotencyKey('has space'), /Idempotency-Key/);
    rejects400(() => parseIdempotencyKey('k'.repeat(129)), /Idempotency-Key/);
    assert.equal(parseOrderId('42'), 42);
    rejects400(() => parseOrderId('0'), /order id/);
    rejects400(() => parseOrderId('4x'), /order id/);
  });

  it('validates confirm-order job data', () => {
    assert.deepEqual(parseConfirmJob({ orderId: 7 }), { orderId: 7 });
    assert.throws(() => parseConfirmJob({ orderId: '7' }));
  });

  it('compares orders regardless of line order', () => {
    const a = {
      customer: 'c',
      lines: [
        { sku: 'A', qty: 1 },
        { sku: 'B', qty: 2 },
      ],
    };
    assert.equal(
      sameOrder(a, {
        customer: 'c',
        lines: [
          { sku: 'B', qty: 2 },
          { sku: 'A', qty: 1 },
        ],
      }),
      true,
    );
    assert.equal(
      sameOrder(a, {
        customer: 'c',
        lines: [
          { sku: 'A', qty: 1 },
          { sku: 'B', qty: 3 },
        ],
      }),
      false,
    );
    assert.equal(sameOrder(a, { customer: 'd', lines: a.lines }), false);
  });
});

describe('ERP input validation beyond orders', () => {
  it('an order may name a warehouse, and a bad one is named', () => {
    assert.deepEqual(parseOrderInput({ customer: 'c', lines: [{ sku: 'A', qty: 1 }], warehouse: 'EAST' }).warehouse, 'EAST');
    rejects400(() => parseOrderInput({ customer: 'c', lines: [{ sku: 'A', qty: 1 }], warehouse: 'east side' }), /^warehouse/);
  });

  it('login', () => {
    assert.deepEqual(parseLogin({ username: 'clerk', password: 'p' }), { username: 'clerk', password: 'p' });
    rejects400(() => parseLogin({ password: 'p' }), /^username/);
    rejects400(() => parseLogin({ username: 'clerk' }), /^password/);
    rejects400(() => parseLogin('clerk'), /JSON object/);
  });

  it('customers', () => {
    assert.deepEqual(parseCustomerInput({ code: 'ACME', name: ' Acme ' }), { code: 'ACME', name: 'Acme', email: null });
    rejects400(() => parseCustomerInput({ name: 'Acme' }), /^code/);
    rejects400(() => parseCustomerInput({ code: 'ACME', name: '' }), /^name/);
    rejects400(() => parseCustomerInput({ code: 'ACME', name: 'Acme', email: 'nope' }), /^email/);
  });

  it('items, with optional opening stock', () => {
    assert.deepEqual(parseItemInput({ sku: 'B', name: 'Bolt', priceCents: 10 }), { sku: 'B', name: 'Bolt', priceCents: 10, reorderLevel: 0 });
    assert.deepEqual(parseItemInput({ sku: 'B', name: 'Bolt', priceCents: 10, opening: { warehouse: 'MAIN', qty: 3 } }).opening, { warehouse: 'MAIN', qty: 3 });
    rejects400(() => parseItemInput({ sku: 'B', name: 'Bolt', priceCents: 1.5 }), /^priceCents/);
    rejects400(() => parseItemInput({ sku: 'B', name: 'Bolt', priceCents: 1, reorderLevel: -1 }), /^reorderLevel/);
    rejects400(() => parseItemInput({ sku: 'B', name: 'Bolt', priceCents: 1, opening: { warehouse: 'MAIN', qty: 0 } }), /^opening\.qty/);
  });

  it('stock receipts', () => {
    assert.deepEqual(parseReceiptInput({ reference: 'PO-1', sku: 'B', warehouse: 'MAIN', qty: 5 }), { reference: 'PO-1', sku: 'B', warehouse: 'MAIN', qty: 5 });
    rejects400(() => parseReceiptInput({ sku: 'B', warehouse: 'MAIN', qty: 5 }), /^reference/);
    rejects400(() => parseReceiptInput({ reference: 'PO-1', sku: 'B', warehouse: 'MAIN', qty: 0 }), /^qty/);
  });
});
