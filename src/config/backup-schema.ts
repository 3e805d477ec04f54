/** The `backup` section of hastack.yaml (schema.ts): backups, their targets, encryption, drills, the binlog archive. */
import { z } from 'zod';

/** A node's name (schema.ts's nodes use it too). */
export const nodeName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'must be lower-case letters, digits and dashes, starting with a letter');

/** One entry of `backup.targets` (see there). */
const backupTargetSchema = z.union([
  nodeName,
  z.object({ node: nodeName, keep: z.number().int().min(1).max(1000).optional() }).strict(),
  z
    .object({
      name: nodeName.describe('how lists and events name this target'),
      dir: z
        .string()
        .regex(/^\/[^\0]*$/, 'must be an absolute path')
        .describe("backups go to DIR/<cluster>/<id>/; keep it off the cluster's disks"),
      keep: z.number().int().min(1).max(1000).optional(),
    })
    .strict(),
  z
    .object({
      name: nodeName.describe('how lists and events name this target'),
      ssh: z
        .string()
        .regex(/^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$/, 'must be user@host or user@host:port (an IPv6 address in brackets)')
        .describe(
          "a plain Linux machine with sshd and rsync (no hastack on it), reached with the backup key (<state>/ssh/backup_ed25519), which `deploy` (hosts) or `hastack backup authorize` puts there restricted to hastack's gate",
        ),
      dir: z
        .string()
        .regex(/^\/[A-Za-z0-9_@%+=:,./-]*$/, 'must be an absolute path of plain characters (it goes into a remote shell and rsync)')
        .describe('backups go to DIR/<cluster>/<id>/ on that machine'),
      keep: z.number().int().min(1).max(1000).optional(),
      hostKey: z
        .string()
        .regex(/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/, 'must be "TYPE BASE64" as in a known_hosts line, e.g. "ssh-ed25519 AAAA..."')
        .optional()
        .describe(
          "the machine's host key as verified by the operator (ssh-keyscan, then compare the fingerprint); else knownHostsFile, else ~/.ssh/known_hosts. Never learned on first use",
        ),
      knownHostsFile: z.string().regex(/^\//, 'must be an absolute path').optional().describe("a known_hosts file holding the machine's host key"),
    })
    .strict()
    .refine((t) => t.hostKey === undefined || t.knownHostsFile === undefined, { message: 'set either hostKey or knownHostsFile, not both', path: ['hostKey'] }),
]);

export const backupSchema = z
  .object({
    /** Complete backups kept on each target node; older ones are removed after a successful new one. */
    keep: z.number().int().min(1).max(1000).default(7),
    /**
     * Scheduled backups, run by the supervisor process: an interval (a number and a unit: `90s`,
     * `30m`, `6h`, `1d`) or a five-field cron expression in UTC (`0 3 * * *`). Unset: no
     * scheduled backups (run `hastack backup` yourself). Field ranges are checked by `up`.
     */
    schedule: z
      .string()
      .regex(/^\s*([1-9][0-9]{0,5}(s|m|h|d)|[0-9*,/-]+(\s+[0-9*,/-]+){4})\s*$/, 'must be an interval like 30m, 6h or 1d, or a cron expression like "0 3 * * *"')
      .optional(),
    /** The node whose backup directory receives backups (default: a database node that is not the primary). */
    target: nodeName.optional(),
    targets: z
      .array(backupTargetSchema)
      .min(1)
      .max(8)
      .optional()
      .describe(
        "Where each backup lands, every one of them (instead of `target`): a node name, `{ node, keep }`, `{ name, dir, keep }`, a directory on the machine that takes the backup (a mounted disk or share of another machine: off the cluster's machines), or `{ name, ssh: user@host[:port], dir, keep, hostKey }`, a plain machine with sshd and rsync reached over SSH with the backup key (its host key from hostKey or knownHostsFile, never learned on first use). Each keeps its own `keep` (default backup.keep). The first is the one `backup list` and `restore` prefer; `--to` replaces the list.",
      ),
    keyFile: z
      .string()
      .regex(/^\//, 'must be an absolute path')
      .optional()
      .describe(
        'A file holding the backup key (64 hex digits: `openssl rand -hex 32`), mode 0600, on the machines that take and restore backups, never on a backup target nor in secrets.json. Set: backups (and archived binlogs) are encrypted with AES-256-GCM. Unset: plaintext, and backup/status say so.',
      ),
    drill: z
      .string()
      .regex(/^\s*([1-9][0-9]{0,5}(s|m|h|d)|[0-9*,/-]+(\s+[0-9*,/-]+){4})\s*$/, 'must be an interval like 1d or a cron expression like "0 5 * * 1"')
      .optional()
      .describe(
        'Restore drills, run by the supervisor: restore the newest backup into a scratch server (with binlogArchive: plus the archive replayed to a random second after it), check row counts and CHECKSUM TABLE, record the recovery time (an interval or a five-field UTC cron, as `schedule`). `status` warns when the last drill failed or is older than two periods.',
      ),
    binlogArchive: z
      .boolean()
      .default(false)
      .describe(
        "Continuous binlog archiving for point-in-time recovery: the supervisor streams the current primary's binlog (Galera: a synced node's; every node then binlogs every write set with one GTID) into <node>/binlog-archive/ on backup.target (else the first database node), following role changes and node losses; restore --to-time/--to-gtid replays it on a base backup",
      ),
  })
  .strict()
  .refine((b) => b.target === undefined || b.targets === undefined, { message: 'set either target or targets, not both', path: ['targets'] })
  .default({});
