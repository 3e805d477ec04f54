// lane: hosts (a host bed, not in CI: it boots its hosts and deploys over SSH; npm run test:hosts)
/**
 * The runtime conformance suite (test/helpers/runtime-conformance.ts) on the hosts runtime: the
 * namespace host bed (test/helpers/hostbed.ts: two stand-in machines with their own sshd,
 * hastack's keeper as their service manager), as root. Second lane: it mostly waits on ssh and
 * `deploy`. Addresses 10.213.216.x (the bed); cluster `hostsconf`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parseConfig, readTopology, resolveTopology, type ConfigInput } from '../../src/config/index.js';
import { runtimeFor } from '../../src/runtime/index.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { hostBedNames, startHostBed, type HostBed } from '../helpers/hostbed.js';
import { conformance, baseConfig, SERVICES, type Bed } from '../helpers/runtime-conformance.js';

const NETNS_BASE = '10.213.216';

/** Pids in a bed host's network namespace other than its sshd and the holder of its mount namespace. */
function hostProcesses(ns: string): string[] {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      let comm = '';
      try {
        comm = fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        // exited while we looked
      }
      return `${p}:${comm}`;
    })
    .filter((p) => !/:(sshd|sleep|)$/.test(p));
}

/** The hosts runtime on two bed machines, deployed by `hastack deploy` (its first start installs). */
async function hostsBed(): Promise<Bed> {
  const hb: HostBed = await startHostBed({ hosts: ['n1', 'n2'], addressBase: NETNS_BASE });
  const dir = tempDir('rt-hosts');
  try {
    const [h1, h2] = hb.hosts;
    if (!h1 || !h2) throw new Error('two bed hosts');
    const input: ConfigInput = {
      ...baseConfig('hostsconf', '127.0.216', NETNS_BASE),
      substrate: 'hosts',
      // The test machine (the bed bridge's .254) probes the database as an operator would.
      database: { mode: 'replication', adminFrom: [`${NETNS_BASE}.254`] },
      nodes: [
        { name: 'n1', address: h1.address, ssh: h1.sshTarget, services: [...SERVICES.n1] },
        { name: 'n2', address: h2.address, ssh: h2.sshTarget, services: [...SERVICES.n2] },
      ],
      hosts: { identityFile: hb.identityFile, knownHostsFile: hb.knownHostsFile },
    };
    const configFile = path.join(dir, 'hastack.yaml');
    fs.writeFileSync(configFile, YAML.stringify(input));
    const stateRoot = path.join(dir, '.hastack');
    // The runtime works from the operator's topology: what `deploy` writes, the same as resolved here.
    const topo = resolveTopology(parseConfig(input), { stateRoot, configDir: dir });
    const runtime = await runtimeFor(topo);
    const names = hostBedNames(NETNS_BASE);
    return {
      topo,
      runtime,
      async bringUp() {
        const r = await runCli(['deploy', '-f', configFile, '--state-root', stateRoot], { cwd: dir, timeoutMs: 600_000 });
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(readTopology(topo.stateDir).cluster, 'hostsconf');
      },
      // From n2, a cluster node: the hosts firewall lets only the cluster's nodes reach Redis.
      async connects(host, port) {
        const r = await hb.exec('n2', `timeout 2 bash -c '</dev/tcp/${host}/${port}' && echo open || echo closed`);
        return r.stdout.trim();
      },
      leftovers: async () => hb.hosts.flatMap((h) => hostProcesses(`${names.nsPrefix}${h.name}`).map((p) => `${h.name}: ${p}`)),
      async teardown() {
        await hb.teardown();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await hb.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

const asRoot = process.getuid?.() === 0;
conformance('hosts on the namespace host bed', asRoot ? false : 'needs root (the host bed)', hostsBed);
