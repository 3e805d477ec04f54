import { preset, type ConfigInput } from '../../src/config/index.js';
import type { HostBed } from './hostbed.js';

const ALL = ['mariadb', 'redis', 'sentinel', 'memcached', 'app', 'worker', 'lb', 'dns'] as const;

/**
 * The `simple` preset on a three-host bed (`primary`, `standby`, `ops`), as `substrate: hosts`:
 * the two servers carry every service; `ops` carries a third Sentinel (a majority without either
 * server) and the controller, with the app's demo data (`app.demoData`). `extra` overrides
 * top-level keys.
 */
export function simpleOnBed(bed: HostBed, cluster: string, extra: Partial<ConfigInput> = {}): ConfigInput {
  const [p, s, w] = bed.hosts;
  if (!p || !s || !w) throw new Error('the bed needs three hosts: primary, standby, ops');
  const base = preset('simple');
  // The test machine (the bed bridge's .254) runs failover and chaos against the database: it is
  // the operator's machine outside the cluster, allowed the admin account by database.adminFrom.
  const operator = p.address.replace(/\.\d+$/, '.254');
  return {
    ...base,
    database: { ...base.database, adminFrom: [operator] },
    cluster,
    substrate: 'hosts',
    nodes: [
      { name: 'primary', address: p.address, ssh: p.sshTarget, services: [...ALL] },
      { name: 'standby', address: s.address, ssh: s.sshTarget, services: [...ALL] },
      { name: 'ops', address: w.address, ssh: w.sshTarget, services: ['sentinel'] },
    ],
    hosts: { controller: 'ops', identityFile: bed.identityFile, knownHostsFile: bed.knownHostsFile },
    // A test bed, not a real deployment: the chaos workload and the crash plan's check log in as
    // the ERP's demo clerk, which hosts get only when asked.
    app: { demoData: true },
    ...extra,
  };
}
