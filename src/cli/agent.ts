import { CLI_MAIN } from '../drivers/index.js';
import {
  parseGatedCommand,
  agentFirewall,
  agentGalera,
  parseGaleraRequest,
  agentNodeDown,
  agentNodeUp,
  agentPrepare,
  agentProbe,
  agentRecordRole,
  agentRestart,
  agentStart,
  agentStatus,
  agentStop,
  agentWire,
  type AgentEnv,
  agentApply,
  agentPlan,
  deployBundleSchema,
  type DeployBundle,
} from '../hosts/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';

/**
 * `_agent SUB --state DIR ...`: the host side of `hastack deploy`. Contract: on success exactly
 * one JSON object on stdout and exit 0; on failure exit 1 and one line on stderr.
 */

function envOf(state: string): AgentEnv {
  return { stateDir: state, nodeBin: process.execPath, cliMain: CLI_MAIN };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readBundle(): Promise<DeployBundle> {
  const text = await readStdin();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HastackError(ErrorCode.BAD_REQUEST, 'stdin is not JSON: plan and apply read a DeployBundle { topology, secrets, configYaml } (hastack deploy sends it)');
  }
  const parsed = deployBundleSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new HastackError(ErrorCode.BAD_REQUEST, `stdin is not a DeployBundle: ${i ? `${i.path.join('.') || '(top level)'}: ${i.message}` : 'invalid'}`);
  }
  return parsed.data;
}

/** Runs one subcommand: its result as one JSON line, or one line on stderr and exit 1. */
async function answer(fn: () => Promise<unknown>): Promise<void> {
  try {
    const result = await fn();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exitCode = 0;
  } catch (e) {
    process.stderr.write(`hastack agent: ${describeError(e).replace(/\s*\n\s*/g, ' | ')}\n`);
    process.exitCode = 1;
  }
}

export const agentCli = {
  plan: (o: { state: string; node: string }) => answer(async () => agentPlan(envOf(o.state), await readBundle(), o.node)),
  apply: (o: { state: string; node: string }) => answer(async () => agentApply(envOf(o.state), await readBundle(), o.node)),
  start: (names: string[], o: { state: string }) => answer(() => agentStart(envOf(o.state), names)),
  stop: (names: string[], o: { state: string }) => answer(() => agentStop(envOf(o.state), names)),
  restart: (names: string[], o: { state: string }) => answer(() => agentRestart(envOf(o.state), names)),
  status: (o: { state: string; node: string }) => answer(() => agentStatus(envOf(o.state), o.node)),
  probe: (o: { state: string; id: string; timeoutMs: number }) => answer(() => agentProbe(envOf(o.state), o.id, o.timeoutMs)),
  wire: (o: { state: string; id: string }) => answer(() => agentWire(envOf(o.state), o.id)),
  prepare: (o: { state: string; id: string }) => answer(() => agentPrepare(envOf(o.state), o.id)),
  nodeDown: (o: { state: string; node: string; recordReplica?: string }) => answer(() => agentNodeDown(envOf(o.state), o.node, o.recordReplica)),
  nodeUp: (o: { state: string; node: string }) => answer(() => agentNodeUp(envOf(o.state), o.node)),
  audit: (o: { state: string; node: string }) => answer(async () => (await import('../hosts/audit.js')).agentAudit(envOf(o.state), o.node)),
  probes: (o: { state: string; node: string; timeoutMs: number }) =>
    answer(async () => (await import('../hosts/redis-admin.js')).agentGuardedProbes(envOf(o.state), o.node, o.timeoutMs)),
  redisLook: (o: { state: string; node: string }) => answer(async () => (await import('../hosts/redis-admin.js')).agentRedisLook(envOf(o.state), o.node)),
  sentinelFailover: (o: { state: string; id: string }) => answer(async () => (await import('../hosts/redis-admin.js')).agentSentinelFailover(envOf(o.state), o.id)),
  sentinelsReady: (o: { state: string; timeoutMs: number }) => answer(async () => (await import('../hosts/redis-admin.js')).agentSentinelsReady(envOf(o.state), o.timeoutMs)),
  recordRole: (o: { state: string; id: string; role: string }) => answer(() => agentRecordRole(envOf(o.state), o.id, o.role)),
  autoMode: (o: { state: string; set?: string; why?: string }) => answer(async () => (await import('../hosts/auto-mode-hosts.js')).agentAutoMode(envOf(o.state), o.set, o.why)),
  firewall: (o: { state: string; node: string; remove?: boolean }) => answer(() => agentFirewall(envOf(o.state), o.node, o.remove === true)),
  // stdin: one step of `secrets rotate` (passwords only there, never in argv).
  secrets: (o: { state: string }) =>
    answer(async () => {
      const r = await import('../hosts/rotate-agent.js');
      return r.agentSecrets(envOf(o.state), r.parseSecretsRequest(await readStdin()));
    }),
  // stdin: one request of restore --into-cluster on hosts (src/hosts/restore-agent.ts); --send
  // writes a tar on stdout instead of JSON (piped to another host's --receive).
  restore: async (o: { state: string; id: string; send?: string; receive?: string }) => {
    const r = await import('../hosts/restore-agent.js');
    if (o.send === undefined) {
      return answer(async () =>
        o.receive !== undefined ? r.agentRestoreReceive(envOf(o.state), o.id, o.receive) : r.agentRestore(envOf(o.state), o.id, r.parseRestoreRequest(await readStdin())),
      );
    }
    try {
      await r.agentRestoreSend(envOf(o.state), o.id, o.send);
    } catch (e) {
      process.stderr.write(`hastack agent: ${describeError(e).replace(/\s*\n\s*/g, ' | ')}\n`);
      process.exitCode = 1;
    }
  },
  // stdin: one request of a Galera start or recovery (src/hosts/galera-agent.ts).
  galera: (o: { state: string; id: string }) => answer(async () => agentGalera(envOf(o.state), o.id, parseGaleraRequest(await readStdin()))),
  gate: (o: { state: string }) =>
    answer(async () => {
      const call = parseGatedCommand(process.env['SSH_ORIGINAL_COMMAND'], o.state);
      const env = envOf(o.state);
      const opt = (k: string): string => call.options[k] ?? '';
      switch (call.verb) {
        case 'status':
          return agentStatus(env, opt('--node'));
        case 'node-down':
          return agentNodeDown(env, opt('--node'), opt('--record-replica'));
        case 'record-role':
          return agentRecordRole(env, opt('--id'), opt('--role'));
      }
    }),
};
