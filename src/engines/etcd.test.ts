import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig, preset, resolveTopology, servicesOf } from '../config/index.js';
import { renderEtcdConf } from './etcd.js';

describe('etcd config', () => {
  const topo = resolveTopology(parseConfig(preset('simple')), { stateRoot: '/tmp/s', configDir: '/tmp' });
  const members = servicesOf(topo, 'etcd');
  it('three members in simple: both servers and the witness, each listening on its own address only', () => {
    assert.deepEqual(
      members.map((m) => m.node),
      ['primary', 'standby', 'witness'],
    );
    const conf = renderEtcdConf(topo, members[2] ?? assert.fail('no witness'));
    assert.match(conf, /^listen-client-urls: http:\/\/127\.0\.10\.3:2379$/m);
    assert.match(conf, /^listen-peer-urls: http:\/\/127\.0\.10\.3:2380$/m);
    assert.match(conf, /^initial-cluster: primary=http:\/\/127\.0\.10\.1:2380,standby=http:\/\/127\.0\.10\.2:2380,witness=http:\/\/127\.0\.10\.3:2380$/m);
  });
  it('bounded: backend quota, request size, compaction; no v2 API; no secret in it', () => {
    const conf = renderEtcdConf(topo, members[0] ?? assert.fail('no member'));
    for (const k of ['quota-backend-bytes: 67108864', 'max-request-bytes: 65536', 'auto-compaction-mode: revision', 'enable-v2: false']) assert.ok(conf.includes(k), k);
    assert.doesNotMatch(conf, /password/i);
  });
});
