import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execLine, environmentLine, quoteExecArg, renderServiceUnit, renderTimerUnit, timeSpan } from './systemd.js';
import type { UnitSpec } from './units.js';

const spec: UnitSpec = {
  name: 'hastack-shop-db1-redis',
  role: 'service',
  serviceId: 'db1/redis',
  description: 'hastack shop: redis on db1 (10.0.0.1:6379)',
  pre: ['/usr/bin/node', '/opt/hastack/dist/src/cli/main.js', '_agent', 'prepare', '--state', '/var/lib/hastack/shop', '--id', 'db1/redis'],
  exec: ['redis-server', '/var/lib/hastack/shop/db1/redis/redis.conf'],
  env: { NODE_ENV: 'production' },
  cwd: '/var/lib/hastack/shop/db1/redis',
  stopTimeoutMs: 10_000,
  restartSec: 0.2,
  restartMaxSec: 5,
  startTimeoutMs: 300_000,
  limits: { nofile: 65536 },
  logFile: '/var/lib/hastack/shop/db1/redis/service.log',
};

describe('systemd unit files', () => {
  it('a service unit (golden)', () => {
    assert.equal(
      renderServiceUnit(spec),
      `# Written by hastack (hastack deploy); changes here are overwritten by the next deploy.
[Unit]
Description=hastack shop: redis on db1 (10.0.0.1:6379)
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
Environment="NODE_ENV=production"
WorkingDirectory=/var/lib/hastack/shop/db1/redis
ExecStartPre=/usr/bin/node /opt/hastack/dist/src/cli/main.js _agent prepare --state /var/lib/hastack/shop --id db1/redis
ExecStart=redis-server /var/lib/hastack/shop/db1/redis/redis.conf
Restart=always
RestartSec=200ms
TimeoutStartSec=300s
TimeoutStopSec=10s
KillMode=control-group
LimitNOFILE=65536
StandardOutput=append:/var/lib/hastack/shop/db1/redis/service.log
StandardError=append:/var/lib/hastack/shop/db1/redis/service.log

[Install]
WantedBy=multi-user.target
`,
    );
  });

  it('a command app server drains before its command stops: KillMode=mixed (SIGTERM to the main process only)', () => {
    assert.match(renderServiceUnit({ ...spec, killMode: 'mixed' }), /^KillMode=mixed$/m);
    assert.match(renderServiceUnit(spec), /^KillMode=control-group$/m);
  });

  it('review item 4: a service with its own user gets User=, Group= and the sandbox; prepare runs as root (+)', () => {
    const unit = renderServiceUnit({ ...spec, user: 'hastack-redis', writablePaths: ['/var/lib/hastack/shop/db1/redis'] });
    assert.equal(
      unit.split('\n').slice(10, 24).join('\n'),
      `WorkingDirectory=/var/lib/hastack/shop/db1/redis
User=hastack-redis
Group=hastack-redis
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
UMask=0077
ReadWritePaths=/var/lib/hastack/shop/db1/redis
CapabilityBoundingSet=
ExecStartPre=+/usr/bin/node /opt/hastack/dist/src/cli/main.js _agent prepare --state /var/lib/hastack/shop --id db1/redis
ExecStart=redis-server /var/lib/hastack/shop/db1/redis/redis.conf
Restart=always
RestartSec=200ms`,
    );
    const lb = renderServiceUnit({ ...spec, user: 'hastack-lb', writablePaths: ['/x'], capabilities: ['CAP_NET_BIND_SERVICE'] });
    assert.match(lb, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    assert.throws(() => renderServiceUnit({ ...spec, user: 'root\nUser=root' }), /not a valid user name/);
  });

  it('quotes arguments with blanks, quotes and backslashes; doubles % and $', () => {
    assert.equal(quoteExecArg('plain/path-1.conf'), 'plain/path-1.conf');
    assert.equal(quoteExecArg('a b'), '"a b"');
    assert.equal(quoteExecArg('say "hi"'), '"say \\"hi\\""');
    assert.equal(quoteExecArg("it's"), '"it\'s"');
    assert.equal(quoteExecArg('50%'), '50%%');
    assert.equal(quoteExecArg('$HOME'), '$$HOME');
    assert.equal(quoteExecArg('a\\b'), '"a\\\\b"');
    assert.equal(quoteExecArg(''), '""');
    assert.equal(quoteExecArg(';'), '";"');
    assert.equal(execLine(['sh', '-c', 'echo "$X" 100%']), 'sh -c "echo \\"$$X\\" 100%%"');
  });

  it('refuses a line break in an argument (it would end the setting)', () => {
    assert.throws(() => quoteExecArg('a\nExecStart=/bin/evil'), /line break/);
  });

  it('environment lines escape quotes and %', () => {
    assert.equal(environmentLine('MSG', 'say "50%"'), 'Environment="MSG=say \\"50%%\\""');
    assert.throws(() => environmentLine('BAD-NAME', 'x'), /not a valid environment variable name/);
  });

  it('time spans keep milliseconds', () => {
    assert.equal(timeSpan(200), '200ms');
    assert.equal(timeSpan(30_000), '30s');
  });

  it('a scheduled unit is a oneshot service plus a timer, no restart and no [Install] of its own', () => {
    const backup: UnitSpec = { ...spec, name: 'hastack-shop-backup', role: 'backup', pre: [], timer: { kind: 'interval', onActiveSec: '6h', onUnitActiveSec: '6h' } };
    const svc = renderServiceUnit(backup);
    assert.match(svc, /^Type=oneshot$/m);
    assert.doesNotMatch(svc, /Restart=|ExecStartPre|\[Install\]/);
    assert.equal(
      renderTimerUnit(backup),
      `# Written by hastack (hastack deploy); changes here are overwritten by the next deploy.
[Unit]
Description=hastack shop: redis on db1 (10.0.0.1:6379) (timer)

[Timer]
OnActiveSec=6h
OnUnitActiveSec=6h
AccuracySec=1s
Unit=hastack-shop-backup.service

[Install]
WantedBy=timers.target
`,
    );
    const cron = renderTimerUnit({ ...backup, timer: { kind: 'calendar', onCalendar: ['*-*-01 00:00:00 UTC', 'Mon *-*-* 00:00:00 UTC'], cron: '0 0 1 * 1' } });
    assert.match(cron ?? '', /OnCalendar=\*-\*-01 00:00:00 UTC\nOnCalendar=Mon \*-\*-\* 00:00:00 UTC\nPersistent=true/);
    assert.equal(renderTimerUnit(spec), undefined);
  });

  it('conflicts are rendered', () => {
    assert.match(renderServiceUnit({ ...spec, conflicts: ['keepalived.service'] }), /^Conflicts=keepalived.service$/m);
  });
});
