import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTimeline, planReplay, prunableSegments } from './binlog-archive-store.js';
import { parseBinlog, parseGtidList, type ParsedBinlog } from './binlog-parse.js';
import { binlog } from './binlog-fixture.test.js';

const seg = (parsed: ParsedBinlog, file = 'f'): { files: Array<{ path: string; parsed: ParsedBinlog }> } => ({ files: [{ path: file, parsed }] });

describe('raw binlog parsing', () => {
  it('finds the start state and each complete transaction with its bytes and time', () => {
    const p = parseBinlog(
      binlog(
        1,
        [[0, 1, 4]],
        [
          { seq: 5, ts: 2000 },
          { seq: 6, ts: 2001, standalone: true },
          { seq: 7, ts: 2002 },
        ],
      ),
    );
    assert.deepEqual([...(p.startState?.values() ?? [])], [{ domain: 0, server: 1, seq: 4 }]);
    assert.deepEqual(
      p.transactions.map((t) => [t.seq, t.server, t.ts]),
      [
        [5, 1, 2000],
        [6, 1, 2001],
        [7, 1, 2002],
      ],
    );
    const [a, b] = p.transactions;
    assert.equal(a?.end, b?.start);
  });
  it('a growing file: a partial event or an unfinished transaction at the tail is left out', () => {
    const full = binlog(
      1,
      [],
      [
        { seq: 1, ts: 10 },
        { seq: 2, ts: 11 },
      ],
    );
    for (const cut of [full.length - 3, full.length - 27]) {
      const p = parseBinlog(full.subarray(0, cut));
      assert.deepEqual(
        p.transactions.map((t) => t.seq),
        [1],
      );
    }
    assert.deepEqual(parseBinlog(Buffer.from('nope')).transactions, []);
    // Resumed where the first parse stopped: the same transaction, the same offsets.
    const first = parseBinlog(full.subarray(0, full.length - 3));
    const rest = parseBinlog(full.subarray(first.completeTo), { offset: first.completeTo, checksumLen: first.checksumLen });
    assert.deepEqual(rest.transactions, parseBinlog(full).transactions.slice(1));
    assert.equal(rest.completeTo, full.length);
  });
});

describe('the archive timeline and the replay plan', () => {
  const a = parseBinlog(
    binlog(
      1,
      [],
      [1, 2, 3, 4].map((seq) => ({ seq, ts: 100 + seq })),
    ),
  );
  it('a new primary continues: its file starts before what is archived, its copies of the overlap replace the old ones', () => {
    // Replicated transactions keep their origin's server_id (1) in the new primary's binlog.
    const b = parseBinlog(
      binlog(
        1,
        [[0, 1, 2]],
        [3, 4, 5, 6].map((seq) => ({ seq, ts: 100 + seq })),
      ),
    );
    const t = buildTimeline([seg(a, 'a'), seg(b, 'b')]);
    assert.deepEqual(
      t.transactions.map((x) => `${x.file}${x.seq}`),
      ['a1', 'a2', 'b3', 'b4', 'b5', 'b6'],
    );
    assert.deepEqual(t.dropped, []);
  });
  it('transactions the new primary never had (lost in a failover) are dropped, its own take their numbers', () => {
    const b = parseBinlog(binlog(2, [[0, 1, 3]], [{ seq: 4, ts: 200 }]));
    // b's seq 4 comes from server 2: a's seq 4 (server 1) was never on b.
    const t = buildTimeline([seg(a, 'a'), seg(b, 'b')]);
    assert.deepEqual(
      t.transactions.map((x) => `${x.file}${x.seq}`),
      ['a1', 'a2', 'a3', 'b4'],
    );
    assert.deepEqual(
      t.dropped.map((x) => `${x.server}-${x.seq}`),
      ['1-4'],
    );
  });
  it('a segment whose start lists nothing (a Galera joiner after its state transfer, a provisioned replica) keeps what is archived', () => {
    const b = parseBinlog(
      binlog(
        1,
        [],
        [
          { seq: 3, ts: 300 },
          { seq: 4, ts: 301 },
          { seq: 5, ts: 302 },
        ],
      ),
    );
    const t = buildTimeline([seg(a, 'a'), seg(b, 'b')]);
    assert.deepEqual(
      t.transactions.map((x) => `${x.file}${x.seq}`),
      ['a1', 'a2', 'a3', 'a4', 'b5'],
    );
    assert.deepEqual(t.dropped, []);
  });
  it('replays from the backup to a time, as byte ranges, inclusive of the second', () => {
    const t = buildTimeline([seg(a, 'a')]);
    const p = planReplay(t, parseGtidList('0-1-1'), { kind: 'time', unixS: 103 });
    assert.equal(p.applied, 2);
    assert.equal(p.last?.seq, 3);
    assert.equal(p.runs.length, 1);
    assert.equal(p.runs[0]?.start, a.transactions[1]?.start);
    assert.equal(p.runs[0]?.end, a.transactions[2]?.end);
    assert.equal(planReplay(t, parseGtidList('0-1-1'), { kind: 'gtid', gtid: { domain: 0, server: 1, seq: 2 } }).applied, 1);
    assert.equal(planReplay(t, new Map(), { kind: 'latest' }).last?.seq, 4);
  });
  it('a gap is an error naming how far a restore can go, never a silent early stop', () => {
    const b = parseBinlog(binlog(2, [[0, 2, 6]], [{ seq: 7, ts: 300 }]));
    const t = buildTimeline([seg(a, 'a'), seg(b, 'b')]);
    assert.throws(() => planReplay(t, new Map(), { kind: 'latest' }), /gap.*0-\*-4/);
    assert.throws(() => planReplay(buildTimeline([seg(a)]), new Map(), { kind: 'gtid', gtid: { domain: 0, server: 1, seq: 9 } }), /not in the binlog archive/);
  });
  it('retention: only a prefix of segments wholly before the oldest backup goes, never the current one', () => {
    const b = parseBinlog(binlog(1, [[0, 1, 4]], [{ seq: 5, ts: 200 }]));
    const segs = [
      { dir: 'a', files: [{ path: 'a', parsed: a }] },
      { dir: 'b', files: [{ path: 'b', parsed: b }] },
    ];
    assert.deepEqual(
      prunableSegments(segs, parseGtidList('0-1-4'), 'b').map((x) => x.dir),
      ['a'],
    );
    assert.deepEqual(prunableSegments(segs, parseGtidList('0-1-3'), 'b'), []);
    assert.deepEqual(prunableSegments(segs, undefined, 'b'), []);
    assert.deepEqual(prunableSegments(segs, parseGtidList('0-1-9'), 'a'), []);
  });
});
