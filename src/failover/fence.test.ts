import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig, resolveTopology, type Secrets } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readEventsFrom } from '../shared/events.js';
import type { FailoverEnv } from './context.js';
import { describeFence, fenceStep, maskSecrets, runFenceCommand, type NodeFencer } from './fence.js';
import type { JournalPlan } from './journal.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hastack-fence-unit-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const secrets: Secrets = {
  redisPassword: 'r'.repeat(24),
  sentinelPassword: 's'.repeat(24),
  dbRootPassword: 'rootpw-0123456789abcdef',
  dbAppPassword: 'a'.repeat(24),
  dbReplPassword: 'p'.repeat(24),
};

/**
 * A cluster whose old primary's machine does not answer: recording its role throws as SSH does,
 * its database's socket does not exist (refused at once), and the node kill is never reached.
 */
function gone(fence: Record<string, unknown> = {}): { env: FailoverEnv; fencer: NodeFencer & { killed: string[] }; stateDir: string } {
  const topo = resolveTopology(
    parseConfig({
      cluster: 'fenceunit',
      redis: { quorum: 1 },
      failover: fence,
      nodes: [
        { name: 'n1', services: ['mariadb', 'redis', 'app', 'lb'] },
        { name: 'n2', services: ['mariadb'] },
      ],
    }),
    { stateRoot: fs.mkdtempSync(path.join(root, 's-')), configDir: root },
  );
  fs.mkdirSync(topo.stateDir, { recursive: true });
  const unreachable = new HastackError(ErrorCode.HOST_UNREACHABLE, 'host n1 (root@10.0.0.1:22) is unreachable (ssh: connect to host 10.0.0.1 port 22: No route to host)');
  const killed: string[] = [];
  const env: FailoverEnv = {
    topo,
    secrets,
    recordRole: () => Promise.reject(unreachable),
  };
  const fencer = {
    killed,
    killNode: (n: string) => {
      killed.push(n);
      return Promise.reject(unreachable);
    },
    isAlive: () => false,
  };
  return { env, fencer, stateDir: topo.stateDir };
}

const plan: JournalPlan = { from: 'n1', to: 'n2', fromReachable: false, repoint: [], because: [], facts: [] };
const events = (stateDir: string): string[] => readEventsFrom(stateDir, 0).events.map((e) => `${e.type}: ${e.message}`);

describe('fencing a machine that does not answer (failover.fence)', () => {
  it('no command configured: FENCE_FAILED, nothing promoted, the message names both ways out', async () => {
    const { env, fencer } = gone();
    const e = await fenceStep(env, fencer, plan, 'fo-1').then(
      () => assert.fail('fenced without a fence'),
      (x: unknown) => x,
    );
    assert.ok(e instanceof HastackError);
    assert.equal(e.code, ErrorCode.FENCE_FAILED);
    assert.match(e.message, /n1's machine does not answer .*no failover\.fence is configured.*nothing was promoted/);
    assert.match(e.message, /hastack failover --machine-off n1/);
  });

  it("the operator's --machine-off for that node lets it go ahead, and it is in the event log", async () => {
    const { env, fencer, stateDir } = gone();
    const r = await fenceStep(env, fencer, plan, 'fo-2', { machineOff: 'n1' });
    assert.match(r.message, /fenced by the operator's word \(--machine-off n1\)/);
    assert.equal(r.fenced, undefined);
    assert.ok(events(stateDir).some((l) => /failover\.fence: .*the operator confirmed it is off/.test(l)));
    // The word is for one node: another's does not count.
    const other = gone();
    await assert.rejects(fenceStep(other.env, other.fencer, plan, 'fo-3', { machineOff: 'n2' }), { code: ErrorCode.FENCE_FAILED });
  });

  it('the command exits 0: fenced; it saw the node, its address and the cluster; its output is logged with secrets masked', async () => {
    const { env, fencer, stateDir } = gone({ fence: `echo "off $HASTACK_FENCE_NODE at [$HASTACK_FENCE_ADDRESS] in $HASTACK_CLUSTER token=abc123 ${secrets.dbRootPassword}"` });
    const r = await fenceStep(env, fencer, plan, 'fo-4');
    assert.match(r.message, /n1: its machine does not answer; powered off by failover\.fence \(exit 0 in \d+ ms\)/);
    const log = events(stateDir).join('\n');
    assert.match(log, /failover\.fence: failover fo-4: n1's machine does not answer \(host n1 .*\): running failover\.fence/);
    assert.match(log, /failover\.fence: failover fo-4: failover\.fence for n1 exited 0/);
    const done = readEventsFrom(stateDir, 0).events.find((e) => e.type === 'failover.fence' && e.data?.['phase'] === 'done');
    const address = env.topo.nodes.find((n) => n.name === 'n1')?.address ?? '';
    assert.equal(done?.data?.['output'], `off n1 at [${address}] in fenceunit token=*** ***`);
    assert.doesNotMatch(fs.readFileSync(path.join(stateDir, 'events.jsonl'), 'utf8'), /abc123|rootpw-/);
  });

  it('the command fails or hangs: FENCE_FAILED with its exit and output, or the timeout; its whole process group is killed', async () => {
    const failing = gone({ fence: 'echo "power API: 403 forbidden" >&2; exit 3' });
    await assert.rejects(fenceStep(failing.env, failing.fencer, plan, 'fo-5'), (e: unknown) => {
      assert.ok(e instanceof HastackError);
      assert.equal(e.code, ErrorCode.FENCE_FAILED);
      assert.match(e.message, /failover\.fence exited 3 after \d+ ms: power API: 403 forbidden: nothing was promoted/);
      assert.match(e.message, /run "hastack failover" \(it resumes at the fence, or plans again if the automatic mode gave this failover up\)/);
      return true;
    });
    const marker = path.join(root, `child-${process.pid}`);
    const hanging = gone({ fence: `(sleep 30; touch ${marker}) & sleep 30`, fenceTimeoutMs: 1_000 });
    await assert.rejects(fenceStep(hanging.env, hanging.fencer, plan, 'fo-6'), /did not finish within 1000 ms \(killed\)/);
    const r = await runFenceCommand(`sleep 30 & echo $! > ${marker}.pid; wait`, {}, 500);
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    const pid = Number(fs.readFileSync(`${marker}.pid`, 'utf8'));
    // The background sleep was in the group: killed (gone, or a zombie until reaped), not left running.
    const state = (): string => {
      try {
        return fs
          .readFileSync(`/proc/${pid}/stat`, 'utf8')
          .replace(/^.*\) /, '')
          .charAt(0);
      } catch {
        return 'gone';
      }
    };
    assert.ok(['gone', 'Z', 'X'].includes(state()), `the command's child ${pid} still runs (${state()})`);
  });

  it('a machine that answers is fenced through it: the command is not run', async () => {
    const { env, fencer } = gone({ fence: 'exit 1' });
    const recorded: string[] = [];
    const ok: FailoverEnv = { ...env, recordRole: (svc, role) => Promise.resolve(void recorded.push(`${svc.id}=${role}`)) };
    const r = await fenceStep(ok, { killNode: (n) => Promise.resolve(void fencer.killed.push(n)), isAlive: () => false }, plan, 'fo-7');
    assert.deepEqual(recorded, ['n1/mariadb=replica']);
    assert.deepEqual(fencer.killed, ['n1']);
    assert.match(r.message, /n1: recorded as replica \(its database did not answer\), node killed and kept down/);
  });

  it('the dry run shows the command that would run, with its environment, or that the plan would stop', () => {
    const withCmd = gone({ fence: 'ipmitool -H "bmc-$HASTACK_FENCE_NODE" chassis power off' });
    assert.match(
      describeFence(withCmd.env, plan),
      /run failover\.fence here \(ipmitool -H "bmc-\$HASTACK_FENCE_NODE" chassis power off\) with HASTACK_FENCE_NODE=n1 HASTACK_FENCE_ADDRESS=\S+ HASTACK_CLUSTER=fenceunit, within 60 s/,
    );
    assert.match(describeFence(gone().env, plan), /stop \(no failover\.fence to power it off\) unless run with --machine-off n1/);
  });

  it('maskSecrets: cluster secrets and credential-looking words', () => {
    assert.equal(maskSecrets(`Authorization: Bearer xyz.abc password=hunter22 ${'p'.repeat(24)}`, secrets), 'Authorization: Bearer *** password=*** ***');
  });
});
