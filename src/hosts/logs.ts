import crypto from 'node:crypto';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { LogTail } from '../substrate/index.js';
import { withHost } from './session.js';
import { shq } from './ssh.js';

/** `hastack logs NODE [SERVICE]` on real hosts: the tail of each service's log, read over SSH in one call. */
export async function hostLogs(topo: Topology, node: string, service: string | undefined, lines: number): Promise<LogTail[]> {
  const svcs = topo.services.filter((s) => s.node === node && (service === undefined || s.kind === service));
  if (svcs.length === 0) {
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${service ?? 'service'} on node "${node}"; nodes: ${topo.nodes.map((x) => x.name).join(', ')}`);
  }
  // Starts each log's section in the one SSH call's output: random, so no log line holds it.
  const mark = `==> hastack-log ${crypto.randomUUID()} `;
  const files = svcs.map((x) => `${x.dir}/service.log`);
  const cmd = files.map((f) => `echo ${shq(mark + f)}; tail -n ${Math.max(1, Math.floor(lines))} ${shq(f)} 2>&1`).join('; ');
  const out = await withHost(topo, node, (s) => s.ssh.run(cmd));
  return out
    .split(mark)
    .slice(1)
    .map((section) => {
      const nl = section.indexOf('\n');
      const file = nl < 0 ? section : section.slice(0, nl);
      return { where: `${node}:${file}`, text: nl < 0 ? '' : section.slice(nl + 1).replace(/\n$/, '') };
    });
}
