import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { withHost } from './session.js';
import { shq } from './ssh.js';

/** `hastack logs NODE [SERVICE]` on real hosts: the tail of each service's log, read over SSH. */
export async function hostLogs(topo: Topology, node: string, service: string | undefined, lines: number): Promise<string> {
  const svcs = topo.services.filter((s) => s.node === node && (service === undefined || s.kind === service));
  if (svcs.length === 0) {
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${service ?? 'service'} on node "${node}"; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  }
  const cmd = svcs
    .map((x) => `${x.dir}/service.log`)
    .map((f) => `echo ${shq(`==> ${node}:${f} <==`)}; tail -n ${Math.max(1, Math.floor(lines))} ${shq(f)} 2>&1`)
    .join('; ');
  return withHost(topo, node, (s) => s.ssh.run(cmd));
}
