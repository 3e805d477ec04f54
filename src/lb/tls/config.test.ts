/** lb.tls in hastack.yaml: defaults and the config errors that name their key. No listeners. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { httpsPort, lbTlsLocal, parseConfig, type ConfigInput } from '../../config/index.js';
import { ConfigError } from '../../shared/errors.js';
import { hstsHeader } from './index.js';

const nodes: ConfigInput['nodes'] = [{ name: 'n1', services: ['mariadb', 'redis', 'app', 'lb'] }];
const onHosts = (tls: NonNullable<NonNullable<ConfigInput['lb']>['tls']>): ConfigInput => ({
  substrate: 'hosts',
  nodes: [{ name: 'n1', address: '10.0.0.5', ssh: 'root@10.0.0.5', services: ['mariadb', 'redis', 'app', 'lb'] }],
  lb: { tls },
});
const keyOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return e instanceof ConfigError ? e.key : `not a ConfigError: ${String(e)}`;
  }
  return undefined;
};

describe('lb.tls config', () => {
  it('defaults: local CA on one machine, 8443 locally and 443 on hosts, redirect on, HSTS off, 12 h ticket keys', () => {
    const c = parseConfig({ nodes, lb: { tls: {} } });
    assert.equal(lbTlsLocal(c), true);
    assert.equal(httpsPort(c), 8443);
    assert.equal(c.lb.tls?.redirectHttp, true);
    assert.equal(c.lb.tls?.ticketKeyPeriodS, 43_200);
    assert.equal(hstsHeader(c.lb.tls ?? assert.fail()), undefined);
    assert.equal(httpsPort(parseConfig(onHosts({ certificates: [{ certFile: 'a.crt', keyFile: 'a.key' }] }))), 443);
    assert.equal(lbTlsLocal(parseConfig({ nodes })), false, 'no lb.tls: no HTTPS at all');
  });

  it('HSTS: true is one year; an object sets max-age and includeSubDomains', () => {
    assert.equal(hstsHeader(parseConfig({ nodes, lb: { tls: { hsts: true } } }).lb.tls ?? assert.fail()), 'max-age=31536000');
    assert.equal(hstsHeader(parseConfig({ nodes, lb: { tls: { hsts: { maxAgeS: 600, includeSubDomains: true } } } }).lb.tls ?? assert.fail()), 'max-age=600; includeSubDomains');
  });

  it('acme: the shape the ACME tier builds on, renewBeforeDays 30 by default', () => {
    const c = parseConfig({ nodes, lb: { tls: { acme: { directoryUrl: 'https://127.0.0.1:14000/dir', email: 'ops@example.com', names: ['erp.hastack.test'] } } } });
    assert.deepEqual(c.lb.tls?.acme, { directoryUrl: 'https://127.0.0.1:14000/dir', email: 'ops@example.com', names: ['erp.hastack.test'], renewBeforeDays: 30 });
    assert.equal(lbTlsLocal(c), false);
  });

  it('refuses, naming the key: no certificate on hosts, local with files, a port clash, bad names', () => {
    assert.equal(
      keyOf(() => parseConfig(onHosts({}))),
      'lb.tls',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: { local: true, certificates: [{ certFile: 'a', keyFile: 'b' }] } } })),
      'lb.tls.local',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: {} }, ports: { https: 8080 } })),
      'ports.https',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: {}, metricsPort: 8443 } })),
      'ports.https',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: { acme: { directoryUrl: 'x', email: 'ops@example.com', names: ['a'] } } } })),
      'lb.tls.acme.directoryUrl',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: { acme: { directoryUrl: 'https://a/d', email: 'ops@example.com', names: ['Bad_Name'] } } } })),
      'lb.tls.acme.names[0]',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: { certificates: [] } } })),
      'lb.tls.certificates',
    );
    assert.equal(
      keyOf(() => parseConfig({ nodes, lb: { tls: { bogus: 1 } as never } })),
      'lb.tls.bogus',
    );
  });
});
