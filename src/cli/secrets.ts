import { resolveTopology } from '../config/index.js';
import { runtimeCapabilities } from '../runtime/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { loadConfigSource, loadRunningTopology, type ConfigOptions } from './config-source.js';
import type { RotateResult } from '../failover/index.js';
import { invokedAs, isJson, type OutputOptions } from './output.js';
import { progressLines, rotateDocument, writeJson } from './plan-json.js';

const print = (line: string): void => void process.stdout.write(`${line}\n`);

/** `secrets pull`: the hosts' passwords back into this state directory (substrate: hosts). */
export async function secretsPull(o: ConfigOptions & { force?: boolean }): Promise<void> {
  const src = loadConfigSource(o);
  // From the config, not topology.json: the state directory may be gone entirely.
  const topo = resolveTopology(src.config, { stateRoot: src.stateRoot, configDir: src.configDir });
  if (!runtimeCapabilities(topo.config).secretsOnNodes) {
    throw new HastackError(
      ErrorCode.BAD_REQUEST,
      `secrets pull reads the passwords back from the hosts of a "substrate: hosts" cluster; this one runs here (${src.config.substrate}) and its secrets.json is the only copy`,
    );
  }
  const { openSessions, closeSessions } = await import('../hosts/session.js');
  const { pullSecrets } = await import('../deploy/host-secrets.js');
  const sessions = openSessions(topo);
  try {
    const r = await pullSecrets(topo, sessions, o.force === true ? { force: true } : {});
    print(`wrote ${r.file} (0600) from the secrets held by ${r.from.join(', ')}; "${invokedAs()} deploy" can run again`);
  } finally {
    await closeSessions(sessions);
  }
}

/**
 * `secrets rotate [--dry-run] [NAME...]`: on this machine's cluster (local, netns) through the
 * engines directly; on `substrate: hosts` through each host's agent over the operator's own SSH
 * sessions (the deploy path, never the controller's restricted key). Under `-o json`: one
 * document of the steps (left to do, or done), the progress of a real run on stderr.
 */
export async function secretsRotate(names: string[], o: ConfigOptions & OutputOptions & { dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(o);
  const json = isJson(o);
  const dryRun = o.dryRun === true ? { dryRun: true } : {};
  const say = progressLines(json, o.dryRun === true);
  let r: RotateResult;
  let hosts: number | null = null;
  // The nodes hold the secrets (hosts): each engine's step goes through its host's agent.
  if (runtimeCapabilities(topo.config).secretsOnNodes) {
    const { openSessions, closeSessions } = await import('../hosts/session.js');
    const { rotateOnHosts } = await import('../hosts/rotate.js');
    const { hostSecretPayloads } = await import('../deploy/host-secrets.js');
    const sessions = openSessions(topo);
    hosts = sessions.size;
    try {
      r = await rotateOnHosts({ topo, sessions, names, ...dryRun, print: say, payloads: (s) => hostSecretPayloads(topo, sessions, s) });
    } finally {
      await closeSessions(sessions);
    }
  } else {
    const { rotateSecrets } = await import('../failover/rotate.js');
    r = await rotateSecrets({ topo, names, ...dryRun, print: say });
  }
  if (json) {
    const where = hosts === null ? '' : ` on ${hosts} host(s)`;
    writeJson(rotateDocument({ names: r.rotated, where, resumed: r.resumed, steps: r.steps }, o.dryRun === true, hosts));
    return;
  }
  if (o.dryRun !== true) print(`rotated ${r.rotated.join(', ')}; the old passwords no longer work`);
}
