import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { HostSession } from './session.js';
import { shq } from './ssh.js';

/** `hastack logs NODE [SERVICE]` on real hosts: the tail of each service's log, read over SSH. */
export async function hostLogs(topo: Topology, node: string, service: string | undefined, lines: number): Promise<string> {
  const n = topo.nodes.find((x) => x.name === node);
  const svcs = topo.services.filter((s) => s.node === node && (service === undefined || s.kind === service));
  if (!n || svcs.length === 0) {
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${service ?? 'service'} on node "${node}"; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  }
  const s = new HostSession(topo, n);
  try {
    const files = svcs.map((x) => `${x.dir}/service.log`);
    const cmd = files.map((f) => `echo ${shq(`==> ${node}:${f} <==`)}; tail -n ${Math.max(1, Math.floor(lines))} ${shq(f)} 2>&1`).join('; ');
    return await s.ssh.run(cmd);
  } finally {
    await s.ssh.close().catch(() => undefined);
  }
}
