import { z } from 'zod';

/**
 * The app and worker sections of hastack.yaml, and `failover.verify`: what runs on the app tier.
 * Two kinds of app: a hastack app module (`app.module`, TypeScript against src/app's contract) or
 * any HTTP server (`app.command`), which gets the environment contract (src/config/app-env.ts).
 */

/** The default app when the file names neither `app.module` nor `app.command`: the example ERP. */
export const DEFAULT_APP_MODULE = 'examples/erp';

/**
 * The environment contract's variable names (src/config/app-env.ts computes their values). An
 * `app.env` / `worker.env` entry may not reuse one: the contract's value is what the endpoints
 * and the failover promise rely on, and a silent override would point an app past them.
 */
export const CONTRACT_ENV_NAMES = [
  'HOST',
  'PORT',
  'HASTACK_NODE',
  'DATABASE_URL',
  'DATABASE_READ_URL',
  'DB_HOST',
  'DB_PORT',
  'DB_READ_PORT',
  'DB_USER',
  'DB_PASSWORD',
  'DB_NAME',
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_MASTER_NAME',
  // Not in issue 19's list, but hastack's Sentinels require a password: without it the two
  // variables above are of no use to a client that speaks Sentinel itself.
  'REDIS_SENTINEL_PASSWORD',
  'MEMCACHED_SERVERS',
] as const;
export type ContractEnvName = (typeof CONTRACT_ENV_NAMES)[number];

const command = z.string().min(1).max(4096);

/** Extra variables: POSIX names, not the contract's own, not hastack's (`HASTACK_*`). */
const envSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a variable name (letters, digits, _; not starting with a digit)'), z.string().max(65_536))
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      if ((CONTRACT_ENV_NAMES as readonly string[]).includes(name) || name.startsWith('HASTACK_')) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [name],
          message: `is a variable of hastack's environment contract (${name.startsWith('HASTACK_') ? 'HASTACK_*' : name}); hastack sets it, pick another name`,
        });
      }
    }
  })
  .default({});

const urlPath = z
  .string()
  .regex(/^\/[\x21-\x7e]*$/, 'must be a URL path starting with "/", like /healthz')
  .max(2048);

export const appSchema = z
  .object({
    /**
     * A hastack app module (a file exporting `defineApp(...)` as default), relative to this file.
     * Exactly one of `module` and `command`; when the file gives neither (and no other key of a
     * command app), the example ERP (`examples/erp`) runs, as it always did.
     */
    module: z.string().min(1).optional(),
    /**
     * Any HTTP server, run with `/bin/sh -c` in `app.dir` with the environment contract: it must
     * listen on `$HOST:$PORT`.
     */
    command: command.optional(),
    /**
     * The readiness path the supervisor and the load balancers probe; 2xx or 3xx is ready.
     * Default: `/healthz` for a module app (the contract's), `/` for a command app (every web
     * app answers its root; an app with a cheaper health route should name it).
     */
    healthPath: urlPath.optional(),
    /**
     * A command app's readiness port: hastack's process around the command answers
     * `GET /readyz` there on the node's address (503 while it drains the app server before a
     * stop, else the app's own healthPath answer), and the load balancers probe it, as they probe
     * a module app's `/readyz`. Default: the app's port + 1.
     */
    readyPort: z.number().int().min(1).max(65535).optional(),
    /** A command run once per `up`/`deploy`, under a cluster-wide lock, before the app servers start. */
    migrate: command.optional(),
    /** Extra variables for the app (and the worker, and migrate), besides the contract's. */
    env: envSchema,
    /** The app's files, relative to this file (default: this file's folder); the command's cwd; `deploy` ships it. */
    dir: z.string().min(1).max(1024).optional(),
    /** Debian packages the app's runtime needs; `doctor`, `setup` and `deploy`'s preflight install them. */
    packages: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'must be a Debian package name, like python3-pymysql'))
      .max(200)
      .default([]),
    /**
     * Apply the app's demo-only migrations (the example ERP's `admin`/`clerk` accounts with
     * published passwords). Unset: on for the local and netns substrates, off on hosts, so a
     * real deployment never gets them unless this says so.
     */
    demoData: z.boolean().optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (a.module !== undefined && a.command !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [],
        message: 'app.module and app.command are both set; give exactly one (a hastack app module, or any HTTP server command)',
      });
    }
    // Neither, but keys that only a command app uses: the command was forgotten, not the ERP meant.
    const commandOnly = (['migrate', 'dir'] as const).filter((k) => a[k] !== undefined);
    if (a.module === undefined && a.command === undefined && commandOnly.length > 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [],
        message: `neither app.module nor app.command is set, but app.${commandOnly.join(' and app.')} is; give exactly one (app.command: the server to run)`,
      });
    }
    if (a.module !== undefined && a.migrate !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['migrate'], message: "is for command apps; a module app's migrations are in its module (defineApp's migrations)" });
    }
  })
  .transform((a) => ({ ...a, module: a.command === undefined ? (a.module ?? DEFAULT_APP_MODULE) : undefined }))
  .default({});

export const workerSchema = z
  .object({
    /**
     * A background worker of a command app: run with `/bin/sh -c` in `app.dir` with the
     * environment contract, kept running and restarted with backoff. Unset: the module app's
     * own job runner (src/worker).
     */
    command: command.optional(),
    /** Extra variables for the worker only (on top of `app.env`). */
    env: envSchema,
  })
  .strict()
  .default({});

/**
 * `failover.verify`: the end-to-end check after a promotion. An HTTP request through a load
 * balancer (or the app directly when there is none), or a command run with the environment
 * contract of the first app node. Unset: the example ERP's order (module apps), or a GET of the
 * app's health path expecting 2xx/3xx (command apps).
 */
export const verifySchema = z.union([
  z
    .object({
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
      path: urlPath,
      body: z
        .string()
        .max(1024 * 1024)
        .optional(),
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,128}$/, 'must be a header name'), z.string().max(8192)).default({}),
      expectStatus: z.number().int().min(100).max(599).default(200),
    })
    .strict(),
  z.object({ command }).strict(),
]);

export type AppConfig = z.output<typeof appSchema>;
export type WorkerConfig = z.output<typeof workerSchema>;
export type VerifyConfig = z.output<typeof verifySchema>;
