/**
 * Secrets on real hosts (a host bed: namespaces with their own sshd): `deploy` ships each host
 * only the passwords its services need (the load-balancer host holds none), refuses to run when
 * the operator's secrets.json is missing or differs from what the hosts hold (naming the host
 * and the secret, changing nothing), and `hastack secrets pull` recovers the file from the hosts.
 * Addresses 10.213.205.x, cluster "h5ahostsecrets".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/index.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startHostBed, type HostBed } from '../helpers/hostbed.js';

const CLUSTER = 'h5ahostsecrets';
const HOST_SECRETS = `/var/lib/hastack/${CLUSTER}/secrets.json`;

/** The engine passwords of a secrets.json (vrrpPassword is keepalived's, carried only with lb.vip, which this cluster has not). */
function engineSecrets(text: string): Record<string, string> {
  const { vrrpPassword: _vrrp, ...rest } = JSON.parse(text) as Record<string, string>;
  return rest;
}

describe('secrets on hosts: a subset per host, deploy refuses a mismatch, secrets pull', { timeout: 12 * 60_000 }, () => {
  const dir = tempDir('h5a-hosts-secrets');
  const configFile = path.join(dir, 'hastack.yaml');
  const operatorSecrets = path.join(dir, '.hastack', CLUSTER, 'secrets.json');
  let bed: HostBed;
  const deploy = (timeoutMs = 400_000) => runCli(['deploy', '-f', configFile], { cwd: dir, timeoutMs });
  const hostFile = async (host: string): Promise<string> => (await bed.exec(host, `cat ${HOST_SECRETS}`)).stdout;

  before(async () => {
    bed = await startHostBed({ hosts: ['server', 'edge'], addressBase: '10.213.205' });
    const [server, edge] = bed.hosts;
    if (!server || !edge) throw new Error('two hosts');
    const config: ConfigInput = {
      cluster: CLUSTER,
      substrate: 'hosts',
      nodes: [
        { name: 'server', address: server.address, ssh: server.sshTarget, services: ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker'] },
        { name: 'edge', address: edge.address, ssh: edge.sshTarget, services: ['lb', 'dns'] },
      ],
      redis: { quorum: 1 },
      database: { semiSync: false },
      hosts: { controller: 'server', identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
    };
    fs.writeFileSync(configFile, YAML.stringify(config));
    const r = await deploy();
    if (r.code !== 0) throw new Error(`deploy failed:\n${r.stdout}\n${r.stderr}`);
  });
  after(async () => {
    await runCli(['down', '-f', configFile], { cwd: dir, timeoutMs: 150_000 }).catch(() => undefined);
    await bed?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('review item 4: the load-balancer host holds none of the passwords; the database host holds what its services need', async () => {
    const edge = JSON.parse(await hostFile('edge')) as Record<string, string>;
    assert.deepEqual(Object.keys(edge), [], `edge holds ${Object.keys(edge).join(', ')}`);
    const server = JSON.parse(await hostFile('server')) as Record<string, string>;
    const mine = engineSecrets(fs.readFileSync(operatorSecrets, 'utf8'));
    assert.deepEqual(server, mine, 'the controller\'s host holds every password, equal to the operator\'s');
    // The services' own copies (read as their own users) hold their kind's secrets only.
    const lbCopy = (await bed.exec('edge', `cat /var/lib/hastack/${CLUSTER}/edge/lb/secrets.json`)).stdout;
    assert.deepEqual(JSON.parse(lbCopy), {});
    const appCopy = JSON.parse((await bed.exec('server', `cat /var/lib/hastack/${CLUSTER}/server/app/secrets.json`)).stdout) as Record<string, string>;
    assert.equal(appCopy['dbRootPassword'], undefined, 'the app server\'s copy lacks the database admin password');
    assert.equal(appCopy['dbAppPassword'], mine['dbAppPassword']);
    const mode = (await bed.exec('edge', `stat -c %a ${HOST_SECRETS}`)).stdout.trim();
    assert.equal(mode, '600');
  });

  it('review item 3: deploy refuses when the operator lost secrets.json, changes nothing; secrets pull recovers it', async () => {
    const before = await hostFile('server');
    const saved = fs.readFileSync(operatorSecrets, 'utf8');
    fs.renameSync(operatorSecrets, `${operatorSecrets}.lost`);
    const r = await deploy();
    assert.notEqual(r.code, 0, 'deploy must refuse');
    assert.match(r.stderr + r.stdout, /secrets\.json is missing, but server already hold this.*secrets pull/s);
    assert.equal(fs.existsSync(operatorSecrets), false, 'no new secrets were made');
    assert.equal(await hostFile('server'), before, 'the host kept its passwords');

    const pull = await runCli(['secrets', 'pull', '-f', configFile], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(pull.code, 0, pull.stdout + pull.stderr);
    assert.deepEqual(engineSecrets(fs.readFileSync(operatorSecrets, 'utf8')), engineSecrets(saved));
    assert.equal(fs.statSync(operatorSecrets).mode & 0o777, 0o600);
  });

  it('review item 3: deploy refuses when the operator\'s passwords differ from the hosts\', naming the host and the secret', async () => {
    const good = fs.readFileSync(operatorSecrets, 'utf8');
    const other = { ...(JSON.parse(good) as Record<string, string>), dbRootPassword: 'not-the-hosts-password' };
    fs.writeFileSync(operatorSecrets, JSON.stringify(other), { mode: 0o600 });
    const before = await hostFile('server');
    const r = await deploy();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /hold other passwords than .*server: dbRootPassword/);
    assert.doesNotMatch(r.stderr + r.stdout, /not-the-hosts-password/);
    assert.equal(await hostFile('server'), before);
    fs.writeFileSync(operatorSecrets, good, { mode: 0o600 });
    const again = await deploy();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /nothing to change/);
  });
});
