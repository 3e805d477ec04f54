/**
 * The address table (kit/addresses.ts) is sound: no two rows share an address, an admin
 * port on the same address or a cluster name; every test and bench has its row; no test file
 * names an address outside its own row. Unit lane: reads files, starts nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './paths.js';
import { findOverlaps, TEST_RANGES, type TestRow } from './addresses.js';

const table: Readonly<Record<string, TestRow>> = TEST_RANGES;

/** Test and bench sources, from the repository root (`test/integration/x.test.ts`). */
function sources(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) return e.name === 'fixtures' ? [] : walk(rel);
      return [rel];
    });
  const tests = walk('test').filter((f) => f.endsWith('.test.ts') && !f.endsWith('.unit.test.ts'));
  const benches = walk('bench').filter((f) => f.endsWith('.ts'));
  return [...tests, ...benches].sort();
}

const row = (over: Partial<TestRow>): TestRow => ({ file: 'x', clusters: [], loopback: [], private: [], ...over });

describe('the test address table', () => {
  it('has no overlap: no shared address, admin port or cluster name between two rows', () => {
    assert.deepEqual(findOverlaps(table), []);
  });

  it('has a row for every test file under test/ and every bench under bench/', () => {
    const files = new Set(Object.values(table).map((r) => r.file));
    const missing = sources().filter((f) => !files.has(f));
    assert.deepEqual(missing, [], 'add a row to kit/addresses.ts for each (test/README.md: adding a test)');
    const gone = Object.entries(table).filter(([, r]) => r.reserved !== true && r.within === undefined && !fs.existsSync(path.join(REPO_ROOT, r.file)));
    assert.deepEqual(
      gone.map(([id, r]) => `${id}: ${r.file}`),
      [],
      'rows whose file no longer exists (renamed? its lane is in its name)',
    );
  });

  it('no test or bench names a loopback or 10.213 address outside its own row', () => {
    const byFile = new Map(Object.values(table).map((r) => [r.file, r]));
    const wrong: string[] = [];
    for (const f of sources()) {
      const r = byFile.get(f);
      if (r === undefined) continue;
      const lines = fs.readFileSync(path.join(REPO_ROOT, f), 'utf8').split('\n');
      lines.forEach((line, i) => {
        // Comments may name other tests' ranges (to say why they differ); code may not.
        if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
        for (const m of line.matchAll(/\b(127\.\d+\.\d+|10\.213\.\d+)(?:\.\d+)?/g)) {
          const base = m[1] ?? '';
          if (base === '127.0.0') continue; // the machine's own loopback (or a namespace's)
          const own = r.loopback.some((s) => s.base === base) || r.private.includes(base);
          if (!own) wrong.push(`${f}:${i + 1}: ${m[0]}`);
        }
      });
    }
    assert.deepEqual(wrong, [], 'take addresses from testRange(...) in kit/addresses.ts');
  });

  it('finds an overlap of node addresses, of an admin port, of a private /24 and of a cluster name', () => {
    const a = row({ file: 'a', clusters: ['one'], loopback: [{ base: '127.0.9', first: 1, last: 4, admin: 9090 }], private: ['10.213.9'] });
    assert.equal(findOverlaps({ a, b: row({ file: 'b', loopback: [{ base: '127.0.9', first: 4, last: 5 }] }) }).length, 1);
    assert.equal(findOverlaps({ a, b: row({ file: 'b', loopback: [{ base: '127.0.9', first: 5, last: 5 }] }) }).length, 0);
    assert.equal(findOverlaps({ a, b: row({ file: 'b', loopback: [{ base: '127.0.9', admin: 9090 }] }) }).length, 1);
    assert.equal(findOverlaps({ a, b: row({ file: 'b', loopback: [{ base: '127.0.9', admin: 9091 }] }) }).length, 0);
    assert.equal(findOverlaps({ a, b: row({ file: 'b', private: ['10.213.9'] }) }).length, 1);
    assert.equal(findOverlaps({ a, b: row({ file: 'b', clusters: ['one'] }) }).length, 1);
    // Two spans of the same row may share nothing with each other's rules: a file is one owner.
    assert.deepEqual(
      findOverlaps({
        a: row({
          loopback: [
            { base: '127.0.9', first: 1, last: 2 },
            { base: '127.0.9', first: 2, last: 3 },
          ],
        }),
      }),
      [],
    );
  });

  it('keeps reservations: a name under a reserved prefix or an address in a reserved range belongs to it and its rows only', () => {
    const res = row({ file: 'reserved', clusters: ['rt*'], loopback: [{ base: '127.0.8', first: 1, last: 254 }], private: ['10.213.8'], reserved: true });
    const inside = row({ file: 'in', clusters: ['rtone'], loopback: [{ base: '127.0.8', first: 1, last: 2, admin: 9090 }], within: 'res' });
    assert.deepEqual(findOverlaps({ res, inside }), []);
    assert.equal(findOverlaps({ res, other: row({ file: 'o', clusters: ['rtx'] }) }).length, 1, "a name under another row's reserved prefix");
    assert.equal(findOverlaps({ res, other: row({ file: 'o', loopback: [{ base: '127.0.8', first: 9, last: 9 }] }) }).length, 1);
    assert.equal(findOverlaps({ res, stray: row({ file: 's', loopback: [{ base: '127.0.7', first: 1, last: 1 }], within: 'res' }) }).length, 1, 'outside its reservation');
    // The longest reserved prefix owns a name: rgy* inside rg*.
    const rg = row({ file: 'rg', clusters: ['rg*'], reserved: true });
    const rgy = row({ file: 'rgy', clusters: ['rgy*'], reserved: true });
    assert.deepEqual(findOverlaps({ rg, rgy, reg: row({ file: 'r', clusters: ['rgyone'], within: 'rgy' }) }), []);
    assert.equal(findOverlaps({ rg, rgy, hard: row({ file: 'h', clusters: ['rgyone'], within: 'rg' }) }).length, 1);
  });
});
