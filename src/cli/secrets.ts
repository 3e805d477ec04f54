import { resolveTopology } from '../config/index.js';
import { runtimeFor } from '../runtime/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { loadConfigSource, loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs } from './output.js';

const print = (line: string): void => void process.stdout.write(`${line}\n`);

/** `secrets pull`: the hosts' passwords back into this state directory (substrate: hosts). */
export async function secretsPull(o: ConfigOptions & { force?: boolean }): Promise<void> {
  const src = loadConfigSource(o);
  // From the config, not topology.json: the state directory may be gone entirely.
  const topo = resolveTopology(src.config, { stateRoot: src.stateRoot, configDir: src.configDir });
  if (!runtimeFor(topo).capabilities.secretsOnNodes) {
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
 * sessions (the deploy path, never the controller's restricted key).
 */
export async function secretsRotate(names: string[], o: ConfigOptions & { dryRun?: boolean }): Promise<void> {
  const topo = loadRunningTopology(o);
  const dryRun = o.dryRun === true ? { dryRun: true } : {};
  let rotated: readonly string[];
  // The nodes hold the secrets (hosts): each engine's step goes through its host's agent.
  if (runtimeFor(topo).capabilities.secretsOnNodes) {
    const { openSessions, closeSessions } = await import('../hosts/session.js');
    const { rotateOnHosts } = await import('../hosts/rotate.js');
    const { hostSecretPayloads } = await import('../deploy/host-secrets.js');
    const sessions = openSessions(topo);
    try {
      rotated = (await rotateOnHosts({ topo, sessions, names, ...dryRun, print, payloads: (s) => hostSecretPayloads(topo, sessions, s) })).rotated;
    } finally {
      await closeSessions(sessions);
    }
  } else {
    const { rotateSecrets } = await import('../failover/rotate.js');
    rotated = (await rotateSecrets({ topo, names, ...dryRun, print })).rotated;
  }
  if (o.dryRun !== true) print(`rotated ${rotated.join(', ')}; the old passwords no longer work`);
}
