import crypto from 'node:crypto';
import { servicesOf, vipIntervalMs, vrrpVersion, type Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * keepalived for `lb.vip` on real hosts: VRRP moves the floating address between the load
 * balancers (we do not reimplement it there). Pure rendering; the interface that carries the
 * node's address is known only on the host, so the text holds placeholders the agent fills from
 * `ip -o -4 addr` (`resolveInterface`).
 */

export const IFACE_PLACEHOLDER = '@HASTACK_IFACE@';
export const PREFIX_PLACEHOLDER = '@HASTACK_PREFIX@';

/** 1..255, stable per cluster name, so two hastack clusters on one LAN rarely share one. */
export function virtualRouterId(cluster: string): number {
  const h = crypto.createHash('sha256').update(cluster).digest();
  return ((h[0] ?? 0) % 255) + 1;
}

/** The first lb gets 150, each next one 10 less (nopreempt keeps the holder anyway). */
export function vrrpPriority(index: number): number {
  return Math.max(1, 150 - 10 * index);
}

export interface KeepalivedParams {
  readonly topo: Topology;
  readonly node: string;
  /** The check script's path on the host. */
  readonly checkScript: string;
  /** `secrets.vrrpPassword`: VRRPv2 PASS authentication, 1 to 8 characters. Unused with VRRPv3 (it has none). */
  readonly authPass?: string;
}

/**
 * keepalived's `advert_int` for `lb.vipIntervalMs`: whole seconds for VRRPv2, hundredths of a
 * second for VRRPv3. A value the version cannot say is refused (the config check refuses it
 * first), never rounded: keepalived itself would round it silently.
 */
export function advertInt(topo: Topology): string {
  const ms = vipIntervalMs(topo.config);
  const v = vrrpVersion(topo.config);
  const step = v === 2 ? 1000 : 10;
  if (ms % step !== 0 || ms < step) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, `lb.vipIntervalMs ${ms} cannot be said in VRRPv${v} (multiples of ${step} ms); see README "Floating address on hosts"`);
  }
  return String(ms / 1000);
}

/**
 * What keepalived accepts in `auth_pass` without quoting, and what VRRPv2 carries (8 bytes; the
 * rest would be silently cut, so two hosts differing after the 8th would still agree).
 */
const AUTH_PASS = /^[A-Za-z0-9_-]{1,8}$/;

export function renderKeepalivedConf(p: KeepalivedParams): string {
  const { topo, node } = p;
  const vip = topo.config.lb.vip;
  if (vip === undefined) throw new HastackError(ErrorCode.INTERNAL, 'keepalived is rendered only when lb.vip is set');
  const lbs = servicesOf(topo, 'lb');
  const index = lbs.findIndex((s) => s.node === node);
  const self = lbs[index];
  if (!self) throw new HastackError(ErrorCode.INTERNAL, `node ${node} carries no load balancer`);
  const peers = lbs.filter((s) => s.node !== node).map((s) => s.address);
  const v3 = vrrpVersion(topo.config) === 3;
  if (!v3 && !AUTH_PASS.test(p.authPass ?? '')) {
    throw new HastackError(
      ErrorCode.CONFIG_INVALID,
      'secrets.json "vrrpPassword" must be 1 to 8 letters, digits, "-" or "_"; remove it and run "hastack deploy" to make a new one',
    );
  }
  const name = `hastack_${topo.cluster.replace(/-/g, '_')}`;
  const lines = [
    `# Written by hastack for cluster ${topo.cluster} on ${node}; "hastack deploy" overwrites it.`,
    'global_defs {',
    `  router_id ${name}_${node.replace(/-/g, '_')}`,
    // The check script runs as root; keepalived then insists it is not writable by anyone else.
    '  script_user root',
    '  enable_script_security',
    '}',
    '',
    `vrrp_script ${name}_lb {`,
    `  script "${p.checkScript}"`,
    // Every second, two failures to give up the address, two successes to be eligible again: the
    // same rhythm as the load balancers' own health checks (lb.fall/rise defaults).
    '  interval 1',
    '  timeout 2',
    `  fall ${topo.config.lb.fall}`,
    `  rise ${topo.config.lb.rise}`,
    '}',
    '',
    `vrrp_instance ${name} {`,
    // All BACKUP + nopreempt: a load balancer coming back does not take the address from the one
    // serving it (each move drops connections); priority only breaks ties at election.
    '  state BACKUP',
    '  nopreempt',
    `  interface ${IFACE_PLACEHOLDER}`,
    `  virtual_router_id ${virtualRouterId(topo.cluster)}`,
    `  priority ${vrrpPriority(index)}`,
    // lb.vrrpVersion: 2 (keepalived's default, what most routers and clouds expect) counts the
    // advert interval in whole seconds, so a takeover after ~3 s at best; 3 in centiseconds.
    ...(v3 ? ['  version 3'] : []),
    // lb.vipIntervalMs: a backup takes over after 3 intervals of silence (plus a skew below one).
    `  advert_int ${advertInt(topo)}`,
    // Unicast: works on networks that filter multicast (most clouds), and names the peers.
    `  unicast_src_ip ${self.address}`,
    // Drop adverts whose source is not one of the peers below: a stranger on the LAN cannot win
    // the election (and take the address) by advertising a higher priority from its own address.
    '  check_unicast_src',
    '  unicast_peer {',
    ...peers.map((a) => `    ${a}`),
    '  }',
    // VRRPv2 PASS authentication: adverts without the cluster's password are dropped. It is weak
    // (the password travels in clear in every advert, 8 characters at most): it keeps apart
    // clusters and stray routers that share a virtual_router_id, not an attacker who can sniff
    // the LAN and forge source addresses; the source check above and host firewall rules do more.
    // VRRPv3 has no authentication (RFC 5798): there the source check and the firewall are all.
    ...(v3 ? [] : ['  authentication {', '    auth_type PASS', `    auth_pass ${p.authPass ?? ''}`, '  }']),
    '  virtual_ipaddress {',
    `    ${vip}/${PREFIX_PLACEHOLDER} dev ${IFACE_PLACEHOLDER}`,
    '  }',
    '  track_script {',
    `    ${name}_lb`,
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}

/**
 * The health check keepalived runs: exit 0 only when this node's load balancer answers its own
 * health path (`/-/healthz`, src/lb). curl where installed; node (always there) otherwise.
 */
export function renderCheckScript(topo: Topology, node: string, nodeBin: string): string {
  const lb = servicesOf(topo, 'lb').find((s) => s.node === node);
  if (!lb) throw new HastackError(ErrorCode.INTERNAL, `node ${node} carries no load balancer`);
  const url = `http://${lb.address}:${lb.port}/-/healthz`;
  const js = `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(1000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))`;
  return [
    '#!/bin/sh',
    `# Written by hastack: exits non-zero when the load balancer of ${node} does not answer ${url}.`,
    'if command -v curl >/dev/null 2>&1; then',
    `  exec curl -fsS --max-time 1 -o /dev/null '${url}'`,
    'fi',
    `exec '${nodeBin}' -e '${js}'`,
    '',
  ].join('\n');
}

/**
 * From `ip -o -4 addr show` output, the interface and prefix length carrying `address` (the
 * subnet containing it, when the address itself is not configured, as with 127.x on `lo`). Pure.
 */
export function resolveInterface(ipOutput: string, address: string): { iface: string; prefix: number } | undefined {
  const toInt = (a: string): number => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const target = toInt(address);
  let inSubnet: { iface: string; prefix: number } | undefined;
  for (const line of ipOutput.split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(line);
    if (!m || m[1] === undefined || m[2] === undefined) continue;
    const iface = m[1].replace(/@.*$/, '');
    const prefix = Number(m[3]);
    if (m[2] === address) return { iface, prefix };
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (inSubnet === undefined && (toInt(m[2]) & mask) >>> 0 === (target & mask) >>> 0) inSubnet = { iface, prefix };
  }
  return inSubnet;
}

export function fillPlaceholders(conf: string, iface: string, prefix: number): string {
  return conf.split(IFACE_PLACEHOLDER).join(iface).split(PREFIX_PLACEHOLDER).join(String(prefix));
}
