import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { parseConfig, preset, resolveTopology, SERVICE_KINDS, type Secrets } from '../config/index.js';
import { SERVICES } from '../registry/index.js';
import { packageRoot } from '../shared/module-path.js';
import { CLI_BUNDLE, CLI_MAIN, DRIVERS, driverFor } from './index.js';

describe('drivers', () => {
  it('every kind of the registry has a driver (the Record makes a missing one a compile error too)', () => {
    for (const k of SERVICE_KINDS) {
      assert.ok(SERVICES[k], `${k} has a descriptor`);
      const d = driverFor(k);
      assert.equal(d, DRIVERS[k]);
      assert.equal(typeof d.prepare, 'function', k);
      assert.equal(typeof d.command, 'function', k);
      assert.equal(typeof d.probe, 'function', k);
    }
  });

  it('our tiers run the bundled CLI, except the app and the worker, which load the app and run the unbundled one', () => {
    const root = packageRoot();
    assert.equal(CLI_MAIN, path.join(root, 'dist/src/cli/main.js'));
    // npm run build makes the bundle (scripts/bundle-cli.mjs); without it, or after a bare tsc,
    // CLI_MAIN stands in.
    assert.ok([path.join(root, 'dist/cli/main.js'), CLI_MAIN].includes(CLI_BUNDLE), CLI_BUNDLE);
    assert.ok(fs.existsSync(CLI_BUNDLE) && fs.existsSync(CLI_MAIN));
    const secrets: Secrets = { redisPassword: 'r', sentinelPassword: 's', dbRootPassword: 'd', dbAppPassword: 'a', dbReplPassword: 'p', sessionKey: 'k' };
    const seen = new Set<string>();
    for (const name of ['ideal', 'simple'] as const) {
      const topo = resolveTopology(parseConfig(preset(name)), { stateRoot: '/ignored', configDir: '/ignored' });
      for (const svc of topo.services) {
        if (SERVICES[svc.kind].origin !== 'ours') continue;
        const cmd = driverFor(svc.kind).command({ topo, secrets, svc, asRoot: false });
        assert.equal(cmd.command, process.execPath);
        assert.deepEqual(cmd.args.slice(0, 3), [svc.kind === 'app' || svc.kind === 'worker' ? CLI_MAIN : CLI_BUNDLE, '_service', svc.kind], `${name}: ${svc.id}`);
        seen.add(svc.kind);
      }
    }
    assert.deepEqual([...seen].sort(), ['app', 'dns', 'lb', 'worker']);
  });
});
