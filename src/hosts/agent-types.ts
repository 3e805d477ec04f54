import { z } from 'zod';
import type { Secrets, Topology } from '../config/index.js';

/**
 * The JSON the host-side agent (`hastack _agent ...`) reads and prints. Zod schemas, so the
 * deploying machine parses what a host answered instead of trusting it.
 */

/** secrets.json (src/config/secrets.ts) as a node holds it: the passwords its services need (each kind's `secrets` in src/registry/kinds.ts). */
export const secretsSchema = z
  .object({
    redisPassword: z.string().min(1).optional(),
    sentinelPassword: z.string().min(1).optional(),
    dbRootPassword: z.string().min(1).optional(),
    dbAppPassword: z.string().min(1).optional(),
    dbReplPassword: z.string().min(1).optional(),
    etcdRootPassword: z.string().min(1).optional(),
    vrrpPassword: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,8}$/)
      .optional(),
    sessionKey: z.string().min(16).optional(),
    tlsTicketSecret: z.string().min(16).optional(),
    lbDbPassword: z.string().min(16).optional(),
    lbStoreKey: z.string().min(16).optional(),
  })
  .strict() satisfies z.ZodType<Partial<Secrets>>;

/** What `deploy` sends to `plan`/`apply` on stdin: the resolved cluster as every host must see it. */
export const deployBundleSchema = z
  .object({
    topology: z.custom<Topology>(
      (v) => typeof v === 'object' && v !== null && typeof (v as { cluster?: unknown }).cluster === 'string' && Array.isArray((v as { services?: unknown }).services),
      'topology must be a resolved topology (topology.json)',
    ),
    secrets: secretsSchema,
    configYaml: z.string(),
    /** database.tls on and this node carries MariaDB: the cluster CA's certificate, the node's own key pair (PEM). */
    tls: z
      .object({ ca: z.string().min(1), cert: z.string().min(1), key: z.string().min(1) })
      .strict()
      .optional(),
    /** lb.tls and this node carries a load balancer: the certificate files of lb.tls, in config order (PEM). */
    lbTls: z
      .object({
        certificates: z.array(z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict()),
        /** lb.tls.acme.caFile's contents (PEM): the private ACME server's CA, written beside the certificates. */
        acmeCa: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type DeployBundle = z.infer<typeof deployBundleSchema>;

export const UNIT_ROLES = ['service', 'controller', 'backup', 'keepalived', 'archive'] as const;
export type UnitRole = (typeof UNIT_ROLES)[number];

export const managerKindSchema = z.enum(['systemd', 'hastack']);
export type ManagerKind = z.infer<typeof managerKindSchema>;

export const fileStatusSchema = z.enum(['new', 'changed', 'same']);
export type FileStatus = z.infer<typeof fileStatusSchema>;

export const agentPlanSchema = z.object({
  manager: managerKindSchema,
  managerNote: z.string().optional(),
  files: z.array(z.object({ path: z.string(), status: fileStatusSchema, diff: z.string().optional() })),
  units: z.array(
    z.object({
      name: z.string(),
      serviceId: z.string().optional(),
      role: z.enum(UNIT_ROLES),
      changed: z.boolean(),
      active: z.boolean(),
    }),
  ),
});
export type AgentPlan = z.infer<typeof agentPlanSchema>;

export const unitStatusSchema = z.object({
  name: z.string(),
  serviceId: z.string().optional(),
  active: z.boolean(),
  pid: z.number().int().optional(),
  restarts: z.number().int().optional(),
  since: z.string().optional(),
});
export type UnitStatus = z.infer<typeof unitStatusSchema>;

/** The automatic failover's mode on a controller's host (src/failover/auto-mode.ts `AutoMode`). */
export const autoModeSchema = z.object({
  state: z.enum(['on', 'off', 'paused']),
  why: z.string().optional(),
  since: z.string().optional(),
  by: z.enum(['auto', 'operator']).optional(),
});
export type HostAutoMode = z.infer<typeof autoModeSchema>;

export const agentStatusSchema = z.object({
  manager: managerKindSchema,
  units: z.array(unitStatusSchema),
  /** On a controller's host: the automatic failover's mode there (auto-mode-hosts.ts). */
  autoMode: autoModeSchema.optional(),
  /** On the binlog archive's host: its status line (failover/binlog-archive.ts describeArchiveStatus). */
  archive: z.object({ line: z.string(), warning: z.boolean() }).optional(),
});
export type AgentStatus = z.infer<typeof agentStatusSchema>;

/** The driver's ProbeResult (src/registry/contract.ts) as JSON. */
export const probeResultSchema = z.object({ healthy: z.boolean(), role: z.string(), detail: z.string().optional() });
export type ProbeResultJson = z.infer<typeof probeResultSchema>;

/** What `probes --node N` prints: a probe of each of the node's guarded services (firewall.ts). */
export const guardedProbesSchema = z.object({ probes: z.record(probeResultSchema) });

/** What `node-up` prints: the status after starting, plus each service's last probe. */
export const nodeUpResultSchema = agentStatusSchema.extend({
  probes: z.record(probeResultSchema),
});
export type NodeUpResult = z.infer<typeof nodeUpResultSchema>;
