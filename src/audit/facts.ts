import { z } from 'zod';

/**
 * What one machine shows the audit: listening sockets and uids of our processes, modes of the
 * state files, the controller's authorized_keys lines, the admin API as its host sees it. Gathered by gather.ts on
 * this machine (local, netns) or by each host's agent (`_agent audit`, JSON over SSH); judged by
 * checks.ts, which is pure.
 */
export const listenFactSchema = z.object({
  /** A service id (`node/kind`), or `admin` for the supervisor's / controller's admin API. */
  owner: z.string(),
  pid: z.number().int(),
  address: z.string(),
  port: z.number().int(),
});
export type ListenFact = z.infer<typeof listenFactSchema>;

export const processFactSchema = z.object({ owner: z.string(), pid: z.number().int(), uid: z.number().int() });
export type ProcessFact = z.infer<typeof processFactSchema>;

export const fileFactSchema = z.object({
  path: z.string(),
  mode: z.number().int(),
  uid: z.number().int(),
  /** The uid owning the directory it is in (a service's own files belong to the service's user). */
  parentUid: z.number().int(),
  dir: z.boolean(),
  /** `secret`: a secret by its name (secrets.json, admin-token, a private key). */
  secretFile: z.boolean(),
  /** Its content holds one of the cluster's passwords or the admin token. */
  holdsSecret: z.boolean(),
  /** Every directory above it lets others through (o+x): its own mode is then all that guards it. */
  othersReach: z.boolean(),
});
export type FileFact = z.infer<typeof fileFactSchema>;

/** What a store answered without credentials (probes.ts / gather.ts). */
export const storeProbeSchema = z.object({
  service: z.string(),
  kind: z.enum(['redis', 'sentinel', 'mariadb', 'memcached']),
  /** redis/sentinel: the answer to PING; memcached: to `version`; mariadb: 'login ok' or absent. */
  answer: z.string().optional(),
});
export type StoreProbeFact = z.infer<typeof storeProbeSchema>;

/** One row of `mysql.user`: who may log in from where. */
export const dbAccountSchema = z.object({ user: z.string(), host: z.string() });
export type DbAccount = z.infer<typeof dbAccountSchema>;

export const hostFactsSchema = z.object({
  node: z.string(),
  /** The uid the cluster's files should belong to where no service user owns them. */
  ownerUid: z.number().int(),
  listens: z.array(listenFactSchema),
  processes: z.array(processFactSchema),
  files: z.array(fileFactSchema),
  /** Lines of root's authorized_keys naming the cluster's controller key; null: not looked at. */
  controllerKeyLines: z.array(z.string()).nullable(),
  /** The admin API as probed from this machine (the controller host on hosts); null: not here. */
  admin: z.lazy(() => adminProbeSchema).nullable(),
  /**
   * Redis and Sentinel of this node probed from its own host, without a password (on hosts their
   * ports answer only cluster nodes: the operator's probe cannot tell whether they demand one).
   * Absent: not probed here.
   */
  stores: z.array(storeProbeSchema).optional(),
  /** The names (never the values) of the secrets in the node's secrets.json; absent: not looked at. */
  secretsHeld: z.array(z.string()).optional(),
  /** `mysql.user` as a database node of this machine has it; absent: no database here. */
  dbAccounts: z.array(dbAccountSchema).optional(),
  /** What could not be read (each becomes AUDIT_INCOMPLETE). */
  problems: z.array(z.string()),
});
export type HostFacts = z.infer<typeof hostFactsSchema>;

/** HTTP statuses the admin API gave to requests that must be refused. */
export const adminProbeSchema = z.object({
  url: z.string(),
  /** POST /v1/faults, text/plain, no token. */
  noToken: z.number().int(),
  /** POST /v1/faults, text/plain, Origin of another site, no token. */
  crossOrigin: z.number().int(),
  /** GET /v1/status with Origin of another site. */
  crossOriginRead: z.number().int(),
  /** GET /v1/status with a Host that is not the API's (DNS rebinding). */
  foreignHost: z.number().int(),
  /** Set when the API did not answer at all. */
  error: z.string().optional(),
});
export type AdminProbe = z.infer<typeof adminProbeSchema>;
