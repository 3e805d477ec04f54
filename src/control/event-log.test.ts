import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, preset, resolveTopology } from '../config/index.js';
import { eventsFile } from '../shared/events.js';
import { clusterShape, startNewEventLogIfReshaped } from './event-log.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-op-eventlog-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const topo = (name: 'ideal' | 'simple') => resolveTopology(parseConfig({ ...preset(name), cluster: 'opevents' }), { stateRoot: root, configDir: root });

describe('the event log belongs to one cluster instance', () => {
  it('the same shape keeps its log; another preset under the same name starts a new one, the old kept beside', () => {
    const ideal = topo('ideal');
    fs.mkdirSync(ideal.stateDir, { recursive: true });
    fs.writeFileSync(eventsFile(ideal.stateDir), '{"ts":"2026-01-01T00:00:00.000Z","type":"cluster.ready","message":"ideal up"}\n');
    assert.equal(clusterShape(ideal), clusterShape(topo('ideal')));
    assert.equal(startNewEventLogIfReshaped(ideal, topo('ideal')), undefined);
    assert.ok(fs.existsSync(eventsFile(ideal.stateDir)));
    const kept = startNewEventLogIfReshaped(ideal, topo('simple'));
    assert.ok(kept !== undefined && /events\.\d{4}-\d{2}-\d{2}T\d{6}Z\.jsonl$/.test(kept), kept);
    assert.equal(fs.existsSync(eventsFile(ideal.stateDir)), false);
    assert.match(fs.readFileSync(kept, 'utf8'), /ideal up/);
    assert.equal(startNewEventLogIfReshaped(undefined, topo('simple')), undefined);
  });
});
