/**
 * The keepalived.conf hastack renders for `lb.vip` is accepted by the real keepalived
 * (`keepalived -t`: a config check, nothing is sent on the network), VRRP authentication and the
 * unicast source check included (review item 13). keepalived refuses `lo` for
 * VRRP, so the check uses this machine's first non-loopback interface; skipped where keepalived
 * or such an interface is missing (it is installed by `.ci/run`).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateSecrets, parseConfig, resolveTopology } from '../../src/config/index.js';
import { fillPlaceholders, renderCheckScript, renderKeepalivedConf, resolveInterface } from '../../src/hosts/index.js';
import { tempDir } from '../helpers/cli.js';

const dir = tempDir('keepalived');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function firstNonLoopback(): { address: string; iface: string; prefix: number } | undefined {
  const out = execFileSync('ip', ['-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
  const m = /^\d+:\s+(?!lo\s)\S+\s+inet\s+(\d+\.\d+\.\d+\.\d+)\//m.exec(out);
  if (!m?.[1]) return undefined;
  const r = resolveInterface(out, m[1]);
  return r ? { address: m[1], ...r } : undefined;
}

const hasKeepalived = spawnSync('keepalived', ['--version']).error === undefined;
const nic = firstNonLoopback();

describe('keepalived accepts the rendered config', { skip: !hasKeepalived || !nic ? 'needs keepalived and a non-loopback interface' : false }, () => {
  // VRRPv2 with its password every second (the default), VRRPv3 without one every 200 ms.
  for (const lbExtra of [{}, { vrrpVersion: 3 as const, vipIntervalMs: 200 }]) {
    it(`keepalived -t exits 0 on every lb node's config (${JSON.stringify(lbExtra)})`, () => {
      if (!nic) return;
      const [a, b, c, d] = nic.address.split('.').map(Number) as [number, number, number, number];
      const peer = `${a}.${b}.${c}.${d === 254 ? 253 : d + 1}`;
      const vip = `${a}.${b}.${c}.${d === 250 ? 249 : 250}`;
      const config = parseConfig({
        cluster: 'kacheck',
        substrate: 'hosts',
        lb: { vip, ...lbExtra },
        nodes: [
          { name: 'lb1', address: nic.address, ssh: `root@${nic.address}`, services: ['lb', 'app', 'mariadb', 'redis'] },
          { name: 'lb2', address: peer, ssh: `root@${peer}`, services: ['lb'] },
        ],
      });
      const topo = resolveTopology(config, { stateRoot: dir, configDir: dir });
      // The VRRP password as `deploy` makes it (secrets.json), so keepalived checks the real shape.
      const secrets = loadOrCreateSecrets(path.join(dir, 'state'));
      // enable_script_security: the script and its directory must not be writable by others.
      fs.chmodSync(dir, 0o755);
      for (const node of ['lb1', 'lb2']) {
        const script = path.join(dir, `${node}-check.sh`);
        fs.writeFileSync(script, renderCheckScript(topo, node, process.execPath), { mode: 0o755 });
        const conf = path.join(dir, `${node}.conf`);
        fs.writeFileSync(conf, fillPlaceholders(renderKeepalivedConf({ topo, node, checkScript: script, authPass: secrets.vrrpPassword ?? '' }), nic.iface, nic.prefix), {
          mode: 0o600,
        });
        const r = spawnSync('keepalived', ['-t', '-f', conf, '-l', '-D'], { encoding: 'utf8', timeout: 10_000 });
        assert.equal(r.status, 0, `${node}: ${r.stdout}${r.stderr}\n${fs.readFileSync(conf, 'utf8')}`);
      }
    });
  }
});
