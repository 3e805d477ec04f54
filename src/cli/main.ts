#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError, HastackError, describeError, ErrorCode } from '../shared/errors.js';
import { argvWantsJson } from './output.js';
import { outputOption, registerOperatorCommands, wantsVersion } from './operator.js';

// Every command imports its module when it runs: the service processes (`_service dns`, say)
// then load only their own tier, not the supervisor, the engine drivers and their clients.
const commands = () => import('./commands.js');
const doctor = () => import('./doctor.js');
const upModule = () => import('./up.js');

/** Exit codes: 0 ok, 1 failure, 2 bad config or usage, 3 missing engines. */
function exitCodeOf(e: unknown): number {
  if (e instanceof ConfigError) return 2;
  const usage: readonly string[] = [ErrorCode.CONFIG_INVALID, ErrorCode.CONFIG_NOT_FOUND, ErrorCode.USAGE];
  if (e instanceof HastackError && usage.includes(e.code)) return 2;
  if (e instanceof HastackError && e.code === ErrorCode.ENGINE_MISSING) return 3;
  return 1;
}

const program = new Command();
program
  .name(process.env.HASTACK_INVOKED_AS ?? 'hastack')
  .description("The seed's high-availability web architecture, run with real engines: DNS, load balancers, app servers, workers, memcached, Redis + Sentinel, MariaDB")
  .showHelpAfterError()
  .option('-V, --version', "print hastack's version and commit, Node's, and each engine's")
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

const configOpts = (c: Command): Command =>
  c
    .option('-f, --file <path>', 'cluster definition (default: ./hastack.yaml, or the ideal preset when absent)')
    .addOption(new Option('-c, --config <path>', 'the same as -f (logs and events, where -f follows, take -c)').hideHelp())
    .option('--preset <name>', 'use a preset instead of a file: ideal or simple')
    .option('--state-root <dir>', 'where cluster state lives (default: .hastack beside the config)');

program
  .command('init')
  .description('write hastack.yaml from a preset')
  .addOption(new Option('--preset <name>', 'ideal or simple').default('ideal'))
  .option('-f, --file <path>', 'file to write', 'hastack.yaml')
  .option('--force', 'overwrite an existing file')
  .action(async (o: { preset: string; file: string; force?: boolean }) => (await commands()).init(o));

configOpts(program.command('up'))
  .description('start the cluster in dependency order and wait until every service is healthy')
  .option('-d, --detach', 'run the supervisor in the background and return once healthy')
  .option('--no-install', 'do not install missing engines with apt-get; print the command instead')
  .addOption(
    new Option('--substrate <name>', 'where nodes live, overriding the config: local (loopback addresses) or netns (a network namespace per node; root)').choices([
      'local',
      'netns',
    ]),
  )
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; detach?: boolean; install: boolean; substrate?: 'local' | 'netns' }) => (await upModule()).up(o));

configOpts(program.command('down'))
  .description('stop every service in reverse order; leaves no process behind')
  .option('--force', 'also remove what a crashed hastack left (netns: namespaces, bridge, veths), even when no run is recorded')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; force?: boolean }) => (await commands()).down(o));

configOpts(program.command('status'))
  .description('probe every service now: role, health, pid, address (exit 1 if any is unhealthy)')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .option('-w, --watch [seconds]', 'probe again every 2 s (or SECONDS) until Ctrl-C')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; json?: boolean; watch?: boolean | string }) => {
    if (o.watch !== undefined) return (await commands()).statusWatch(o);
    if (!(await (await commands()).status(o))) process.exitCode = 1;
  });

for (const want of ['pause', 'resume'] as const) {
  configOpts(program.command(want))
    .description(
      want === 'pause'
        ? 'stop the automatic failover from acting (maintenance); it keeps watching'
        : 'turn the automatic failover back on (after pause, or after a failed automatic failover turned it off)',
    )
    .option('--dry-run', 'say what would change, change nothing')
    .option('--reason <text>', 'why (pause): shown by status and the event log')
    .addOption(outputOption())
    .option('--json', 'the same as -o json')
    .action(async (o: { file?: string; preset?: string; stateRoot?: string; dryRun?: boolean; reason?: string; json?: boolean }) =>
      (await import('./pause.js')).pauseOrResume(want, o),
    );
}

for (const action of ['stop', 'start', 'restart'] as const) {
  configOpts(program.command(action))
    .description(
      action === 'stop'
        ? 'stop NODE (every service of it) or NODE/SERVICE; it stays stopped, the supervisor does not restart it, until "start"'
        : action === 'start'
          ? 'start what "stop" stopped (NODE or NODE/SERVICE), each service healthy before the next'
          : 'stop then start NODE or NODE/SERVICE (e.g. app1, db2/mariadb)',
    )
    .argument('<target>', 'NODE or NODE/SERVICE')
    .addOption(outputOption())
    .option('--json', 'the same as -o json')
    .option('--dry-run', 'print what would happen, change nothing')
    .option('--force', 'stop or restart the primary database although failover.auto is on (it fails over)')
    .action(async (target: string, o: { file?: string; preset?: string; stateRoot?: string; json?: boolean; dryRun?: boolean; force?: boolean }) =>
      (await import('./svcctl.js')).controlService(action, target, o),
    );
}

configOpts(program.command('drain'))
  .description("stop the load balancers sending new requests to NODE's app server (in-flight ones finish); --undo puts it back")
  .argument('<node>')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .option('--undo', 'put the app server back in rotation')
  .option('--dry-run', 'print what would happen, change nothing')
  .action(async (node: string, o: { file?: string; preset?: string; stateRoot?: string; json?: boolean; dryRun?: boolean; undo?: boolean }) =>
    (await import('./svcctl.js')).drainNode(node, o),
  );

configOpts(program.command('audit'))
  .description('check the running cluster for weaknesses (binds, users, file modes, key restrictions, open admin API, stores without auth); exit 1 on any finding')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; json?: boolean }) => {
    process.exitCode = await (await import('./audit.js')).audit(o);
  });

configOpts(program.command('env'))
  .description("print the environment contract NODE's app and worker processes get (DATABASE_URL, REDIS_URL, ...); passwords masked unless --show-secrets")
  .argument('<node>')
  .addOption(outputOption())
  .option('--json', 'a JSON object instead of NAME=value lines (the same as -o json)')
  .option('--show-secrets', 'print the passwords instead of ********')
  .action(async (node: string, o: { file?: string; preset?: string; stateRoot?: string; json?: boolean; showSecrets?: boolean }) => (await import('./env.js')).printEnv(node, o));

configOpts(program.command('doctor'))
  .description("check that every engine hastack runs, and the configured substrate's tools, are installed; print the install command if not")
  .option('--tests', 'check what the test suite needs instead (every engine, every substrate tool, chromium, sshd)')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; tests?: boolean }) => {
    const { doctorReport, printDoctor } = await doctor();
    const config = o.tests ? undefined : (await import('./config-source.js')).loadConfigSource(o).config;
    const r = doctorReport(config === undefined ? { tests: true } : { substrate: config.substrate, appPackages: config.app.packages });
    printDoctor(r);
    if (!r.ok) process.exitCode = 3;
  });

configOpts(program.command('setup'))
  .description("install what is missing with apt-get (root, Debian/Ubuntu): the engines and the configured substrate's tools, or with --tests what the test suite needs")
  .option('--tests', 'install what the test suite needs (npm test and CI run this)')
  .option('--dry-run', 'print the command without running it')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; tests?: boolean; dryRun?: boolean; json?: boolean }) =>
    (await doctor()).setupEngines({
      dryRun: o.dryRun ?? false,
      json: o.json ?? false,
      scope: o.tests
        ? { tests: true }
        : await (async () => {
            const c = (await import('./config-source.js')).loadConfigSource(o).config;
            return { substrate: c.substrate, appPackages: c.app.packages };
          })(),
    }),
  );

const db = program.command('db').description('database operations');
configOpts(db.command('recover'))
  .description('galera: restart a cluster that lost every node: bootstrap the most advanced node, join the others (see --dry-run)')
  .option('--dry-run', "print each node's position and the plan; change nothing")
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; dryRun?: boolean; json?: boolean }) => (await import('./db.js')).dbRecover(o));

configOpts(db.command('shell'))
  .description('the mariadb client as root on NODE (default: the writable primary); arguments after -- go to mariadb')
  .argument('[node]')
  .argument('[args...]')
  .action(async (node: string | undefined, args: string[], o: { file?: string; preset?: string; stateRoot?: string }) => (await import('./shell.js')).dbShell(node, args, o));
configOpts(program.command('redis-cli'))
  .description('redis-cli on NODE (default: the master Sentinel names) with the generated password (REDISCLI_AUTH); arguments after -- go to redis-cli')
  .argument('[node]')
  .argument('[args...]')
  .action(async (node: string | undefined, args: string[], o: { file?: string; preset?: string; stateRoot?: string }) => (await import('./shell.js')).redisCli(node, args, o));

const chaos = program.command('chaos').description('fault-injection runs that measure the three promises: available, no data lost, reads scale');
chaos
  .command('list')
  .description('list the scenarios')
  .action(async () => (await import('./chaos.js')).chaosList());
configOpts(chaos.command('run'))
  .description("run a workload against the running cluster, inject the scenario's fault, heal it, check the history (exit 1 if a promise broke)")
  .argument('<scenario>')
  .option('--duration <s>', 'seconds of workload', (v) => Number(v), 30)
  .option('--seed <n>', 'seed for the operation mix and random targets', (v) => Number(v), 1)
  .option('--clients <n>', 'concurrent clients', (v) => Number(v), 8)
  .option(
    '--naive-clients <n>',
    'of the clients, how many are naive: one request per operation, no retry (only a refused connection moves to the next DNS address, and, as in a browser, a reset kept-alive connection is resent at once); default 2',
    (v) => Number(v),
  )
  .option('--reader-clients <n>', 'of the retrying clients, how many only browse (item reads and the item list, never a write); default a quarter of --clients, at least 1', (v) =>
    Number(v),
  )
  .option('--report <file>', 'write the report as JSON')
  .addOption(new Option('--json <file>', 'the older name of --report').hideHelp())
  .option('--html <file>', 'write a self-contained HTML report with a timeline chart')
  .option('--up', "bring the scenario's preset up first and down after")
  .option('--min-availability <ratio>', 'also fail when availability is below this (0..1)', (v) => Number(v))
  .option('--then-failover', 'run the crash plan (hastack failover --yes) right after the fault is injected')
  .option('--https', 'the workload speaks HTTPS to the load balancers (lb.tls), verifying against the cluster CA or the system store')
  .action(async (name: string, o: Parameters<typeof import('./chaos.js').chaosRun>[1]) => {
    process.exitCode = await (await import('./chaos.js')).chaosRun(name, o);
  });

configOpts(chaos.command('soak'))
  .description(
    'run a scenario N times on the running cluster (healed and whole between runs): per-run figures, median and maximum (exit 1 if a run broke a promise, or before a run while automatic failover is off for a scenario that needs it)',
  )
  .argument('<scenario>')
  .requiredOption('--runs <n>', 'how many runs (1-100)', (v) => Number(v))
  .option('--duration <s>', 'seconds of workload per run', (v) => Number(v), 30)
  .option('--seed <n>', 'seed of the first run (each next run adds 1)', (v) => Number(v), 1)
  .option('--clients <n>', 'concurrent clients', (v) => Number(v), 8)
  .option('--json <file>', "write runs (each run's report), the medians, maxima and sums as JSON")
  .option('--https', 'the workload speaks HTTPS to the load balancers (lb.tls)')
  .action(async (name: string, o: Parameters<typeof import('./chaos.js').chaosSoak>[1]) => {
    process.exitCode = await (await import('./chaos.js')).chaosSoak(name, o);
  });

const jobs = program.command('jobs').description('the job queue: jobs that failed for good (the dead-letter view), and running them again');
configOpts(jobs.command('failed'))
  .description('counts by state and the newest jobs that failed for good, with their reasons')
  .option('-n, --limit <n>', 'how many to show', (v) => Number.parseInt(v, 10), 20)
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; limit: number; json?: boolean }) => (await import('./jobs.js')).jobsFailed(o));
configOpts(jobs.command('retry'))
  .description('move failed jobs back to waiting (handlers are idempotent by job id); safe to re-run')
  .argument('[ids...]')
  .option('--all', 'every failed job')
  .option('--dry-run', 'list what would be retried, change nothing')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (ids: string[], o: { file?: string; preset?: string; stateRoot?: string; all?: boolean; dryRun?: boolean; json?: boolean }) =>
    (await import('./jobs.js')).jobsRetry(ids, o),
  );
const backupCli = () => import('./backup.js');
const secretsCmd = program.command('secrets').description("the cluster's passwords (secrets.json): recover them from the hosts, change them safely");
configOpts(secretsCmd.command('pull'))
  .description('substrate hosts: write secrets.json (0600) from the passwords the hosts hold, after this machine lost it')
  .option('--force', 'replace an existing secrets.json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; force?: boolean }) => (await import('./secrets.js')).secretsPull(o));
configOpts(secretsCmd.command('rotate'))
  .description(
    'new passwords, changed in each engine in an order that keeps replication, Sentinel and the clients working, then saved, then the app and workers restarted one at a time; journaled, re-run resumes',
  )
  .argument('[names...]', 'redisPassword sentinelPassword dbRootPassword dbAppPassword dbReplPassword (default: all)')
  .option('--dry-run', 'print the steps; change nothing')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (names: string[], o: { file?: string; preset?: string; stateRoot?: string; dryRun?: boolean; json?: boolean }) =>
    (await import('./secrets.js')).secretsRotate(names, o),
  );

const backupCmd = configOpts(program.command('backup'))
  .description("physical backup (mariabackup of a replica, Redis RDB, manifest with checksums) rsynced to a node's backup directory; keeps backup.keep")
  .option('--to <node>', 'node whose backup directory receives it (default: backup.target, else a database node that is not the primary)')
  .option('--dry-run', 'print the plan and the facts it is based on; change nothing')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .addOption(new Option('--only-on <node>', 'the scheduled unit: take the backup only if the source now is on this node, else log a skip').hideHelp())
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; to?: string; dryRun?: boolean; onlyOn?: string; json?: boolean }) => (await backupCli()).backup(o));
configOpts(backupCmd.command('list'))
  .description('list the backups: id, time, node, source, size, GTID, verification')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; json?: boolean }) => (await backupCli()).backupList(o));
configOpts(backupCmd.command('authorize'))
  .description(
    "put the backup key on every SSH target of backup.targets over your own SSH, restricted to hastack's gate there (rsync into and out of its dir, listing, checking, retention) and to the machines that send backups (deploy does it on hosts); exit 1 when one could not be reached (it prints the line to add by hand)",
  )
  .option('--dry-run', 'look and say what would change; change nothing')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; dryRun?: boolean }) => {
    process.exitCode = await (await backupCli()).backupAuthorize(o);
  });
configOpts(backupCmd.command('drill'))
  .description(
    'restore drill now: the newest backup into a scratch server (with backup.binlogArchive: plus the archive replayed to a random second after it), row counts and CHECKSUM TABLE checked, recovery time recorded (status shows it)',
  )
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: { file?: string; preset?: string; stateRoot?: string; json?: boolean }) => {
    process.exitCode = await (await backupCli()).backupDrill(o);
  });
configOpts(program.command('restore'))
  .description(
    'restore --verify [BACKUP]: a backup (default: the newest) into a scratch MariaDB, checked, cleaned up (exit 1 if broken); --to-time/--to-gtid/--latest: a point in time, with --verify into a scratch server, with --into-cluster into the cluster itself',
  )
  .argument('[backup]', 'backup id (see "backup list") or directory')
  .option('--verify', 'restore into a scratch server and check tables, row counts and checksums against the manifest')
  .option(
    '--to-time <time>',
    'point-in-time recovery: the newest backup before TIME plus the archived binlogs up to TIME (ISO 8601, UTC unless it names a zone; second precision, inclusive)',
  )
  .option('--to-gtid <gtid>', 'point-in-time recovery up to and including this GTID (domain-server-seq)')
  .option('--latest', 'point-in-time recovery up to the newest archived transaction')
  .option('--keep', 'with --to-time/--to-gtid/--latest: leave the scratch server running and print how to reach and stop it')
  .option('--json', 'with --to-time/--to-gtid/--latest: machine-readable output')
  .option(
    '--into-cluster',
    "put the cluster's database back at the target (default --latest): a backup of it first, writes stopped, the primary's datadir replaced, replicas provisioned again; journaled, re-run to resume (replication mode, local/netns)",
  )
  .option('--confirm <cluster>', "with --into-cluster: the cluster's name, to go ahead without being asked")
  .option('--dry-run', 'with --into-cluster: print the plan, change nothing')
  .action(async (ref: string | undefined, o: Parameters<typeof import('./restore-pitr.js').restore>[1]) => {
    process.exitCode = await (await import('./restore-pitr.js')).restore(ref, o);
  });
configOpts(program.command('failover'))
  .description('the crash plan: fence the primary, promote the most advanced replica, move Redis and the services, check DNS, verify end to end (resumes an interrupted run)')
  .option('--to <node>', 'the replica to promote (default: the most advanced)')
  .option('--dry-run', 'print the plan and the facts it rests on; change nothing')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .option('--yes', 'do not ask for confirmation')
  .option('--accept-data-loss', 'promote even though the primary acknowledged commits the replica lacks (semi-sync had fallen back to asynchronous); the plan lists them')
  .option(
    '--machine-off <node>',
    "you confirm that NODE's machine is powered off (or cut off for good): the fence goes ahead when that machine does not answer over SSH and failover.fence is unset or failed",
  )
  .action(async (o: Parameters<typeof import('./failover.js').failover>[0]) => (await import('./failover.js')).failover(o));

configOpts(program.command('switchover'))
  .description('planned role change with the primary alive: stop writes, wait until the target has every GTID, promote it, make the old primary its replica')
  .requiredOption('--to <node>', 'the replica to promote')
  .option('--dry-run', 'print the plan and the facts; change nothing')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: Parameters<typeof import('./failover.js').switchover>[0]) => (await import('./failover.js')).switchover(o));

configOpts(program.command('deploy'))
  .description("substrate: hosts: install and start the cluster on its machines over SSH (systemd units, or hastack's keeper without systemd); a re-run changes only what differs")
  .option('--dry-run', 'look at every host and print the plan; change nothing')
  .option('--diff', 'like --dry-run, and show what would change in each file')
  .addOption(outputOption())
  .option('--json', 'the same as -o json')
  .action(async (o: Parameters<typeof import('./deploy.js').deployCli>[0]) => (await import('./deploy.js')).deployCli(o));

registerOperatorCommands(program, configOpts);

// Internal entry points: the supervisor and the processes it runs.
program
  .command('_supervise', { hidden: true })
  .requiredOption('--state <dir>')
  .action(async (o: { state: string }) => (await upModule()).supervise(o.state));
program
  .command('_service', { hidden: true })
  .argument('<kind>')
  .requiredOption('--state <dir>')
  .requiredOption('--node <name>')
  .action(async (kind: string, o: { state: string; node: string }) => (await import('./service.js')).runService(kind, o.state, o.node));
program
  .command('_controller', { hidden: true })
  .requiredOption('--state <dir>')
  .option('--node <name>', "the node this host is (a unit from before it was given: the admin API's node)")
  .action(async (o: { state: string; node?: string }) => (await import('./controller.js')).runController(o.state, o.node));
program
  .command('_binlog-archive', { hidden: true })
  .requiredOption('--state <dir>')
  .action(async (o: { state: string }) => (await import('./controller.js')).runArchiver(o.state));
program
  .command('_migrate', { hidden: true })
  .requiredOption('--state <dir>')
  .action(async (o: { state: string }) => (await import('./service.js')).runMigrate(o.state));

// The host side of `hastack deploy` (src/hosts): one JSON object out per call.
const agentCli = async () => (await import('./agent.js')).agentCli;
const agent = program.command('_agent', { hidden: true }).description('host-side agent of hastack deploy');
const agentSub = (name: string): Command => agent.command(name).requiredOption('--state <dir>', '<hosts.stateDir>/<cluster> on this host');
agentSub('plan')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).plan(o));
agentSub('apply')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).apply(o));
for (const verb of ['start', 'stop', 'restart'] as const) {
  agentSub(verb)
    .argument('<units...>')
    .action(async (names: string[], o: { state: string }) => (await agentCli())[verb](names, o));
}
agentSub('status')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).status(o));
agentSub('audit')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).audit(o));
agentSub('probe')
  .requiredOption('--id <node/kind>')
  // 1 s: a healthy engine on the host answers in milliseconds; the caller retries.
  .option('--timeout-ms <ms>', 'probe timeout', (v) => Number.parseInt(v, 10), 1000)
  .action(async (o: { state: string; id: string; timeoutMs: number }) => (await agentCli()).probe(o));
// Redis and Sentinel answer only cluster nodes on hosts (src/hosts/firewall.ts): the operator's
// failover, deploy and status ask them through these (src/hosts/redis-admin.ts).
agentSub('probes')
  .requiredOption('--node <name>')
  .option('--timeout-ms <ms>', "each probe's timeout", (v) => Number.parseInt(v, 10), 1000)
  .action(async (o: { state: string; node: string; timeoutMs: number }) => (await agentCli()).probes(o));
agentSub('redis-look')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).redisLook(o));
agentSub('sentinel-failover')
  .requiredOption('--id <node/sentinel>')
  .action(async (o: { state: string; id: string }) => (await agentCli()).sentinelFailover(o));
agentSub('sentinels-ready')
  // 30 s: what deploy waits on a machine of its own (Sentinels meet through 2 s hello messages).
  .option('--timeout-ms <ms>', 'how long to wait', (v) => Number.parseInt(v, 10), 30_000)
  .action(async (o: { state: string; timeoutMs: number }) => (await agentCli()).sentinelsReady(o));
agentSub('wire')
  .requiredOption('--id <node/kind>')
  .action(async (o: { state: string; id: string }) => (await agentCli()).wire(o));
agentSub('prepare')
  .requiredOption('--id <node/kind>')
  .action(async (o: { state: string; id: string }) => (await agentCli()).prepare(o));
agentSub('node-down')
  .requiredOption('--node <name>')
  .option('--record-replica <service>', "record this database service's role as replica first (the crash plan's fence in one call)")
  .action(async (o: { state: string; node: string; recordReplica?: string }) => (await agentCli()).nodeDown(o));
agentSub('record-role')
  .requiredOption('--id <service>')
  .requiredOption('--role <role>')
  .action(async (o: { state: string; id: string; role: string }) => (await agentCli()).recordRole(o));
agentSub('auto-mode')
  .option('--set <state>', 'on or paused (hastack pause / resume)')
  .option('--why <text>')
  .action(async (o: { state: string; set?: string; why?: string }) => (await agentCli()).autoMode(o));
agentSub('node-up')
  .requiredOption('--node <name>')
  .action(async (o: { state: string; node: string }) => (await agentCli()).nodeUp(o));
agentSub('firewall')
  .requiredOption('--node <name>')
  .option('--remove', "remove the cluster's rules (hastack down)")
  .action(async (o: { state: string; node: string; remove?: boolean }) => (await agentCli()).firewall(o));
agentSub('galera')
  .requiredOption('--id <id>', 'the galera node, node/mariadb')
  .action(async (o: { state: string; id: string }) => (await agentCli()).galera(o));
// restore --into-cluster on hosts (src/hosts/restore-agent.ts): one request on stdin, or a datadir's tar.
agentSub('restore')
  .requiredOption('--id <id>', 'the service, node/mariadb (node/memcached to flush it)')
  .option('--send <restore>', "write the restore's built datadir as a tar on stdout")
  .option('--receive <restore>', "unpack a tar of the restore's datadir from stdin")
  .action(async (o: { state: string; id: string; send?: string; receive?: string }) => (await agentCli()).restore(o));
// One step of `secrets rotate` on hosts; the request (with the passwords) on stdin only.
agentSub('secrets').action(async (o: { state: string }) => (await agentCli()).secrets(o));
// The controller key's forced command (authorized_keys): runs only the verbs the gate allows,
// read from SSH_ORIGINAL_COMMAND (src/hosts/agent-gate.ts).
program
  .command('_agent-gate', { hidden: true })
  .requiredOption('--state <dir>', '<hosts.stateDir>/<cluster> on this host')
  .action(async (o: { state: string }) => (await agentCli()).gate(o));
// The backup key's forced command on a backup target (src/hosts/backup-gate.ts).
program
  .command('_backup-gate', { hidden: true })
  .requiredOption('--state <dir>', '<hosts.stateDir>/<cluster> on this host')
  .requiredOption('--node <node>', 'the node whose backup directory receives')
  .action(async (o: { state: string; node: string }) => {
    process.exitCode = await (await import('../hosts/backup-gate.js')).runBackupGate(o.state, o.node);
  });
program
  .command('_keep', { hidden: true })
  .requiredOption('--unit <file>')
  // Straight to the keeper module: one keeper runs per unit, so it loads nothing else (no agent,
  // drivers or clients).
  .action(async (o: { unit: string }) => (await import('../hosts/keeper.js')).runKeeper(o.unit));

/** An error as the command line shows it: one `hastack: ...` line per problem, or one JSON object under `-o json`. */
function reportError(e: unknown): void {
  if (argvWantsJson(process.argv.slice(2))) {
    const code = e instanceof HastackError ? e.code : ErrorCode.INTERNAL;
    const problems = e instanceof ConfigError && 'problems' in e ? { problems: e.problems } : {};
    // The facts a refusal rests on (a failover's readings, a deploy's hosts): never secrets (errors.ts).
    const details = e instanceof HastackError && !(e instanceof ConfigError) && Object.keys(e.details).length > 0 ? { details: e.details } : {};
    process.stdout.write(JSON.stringify({ error: { code, exitCode: exitCodeOf(e), message: describeError(e), ...problems, ...details } }, null, 2) + '\n');
  } else if (e instanceof ConfigError) {
    process.stderr.write(
      e.message
        .split('\n')
        .map((l) => `hastack: bad config: ${l}\n`)
        .join(''),
    );
  } else {
    process.stderr.write(`hastack: ${describeError(e)}\n`);
  }
}

if (wantsVersion(process.argv.slice(2))) {
  void import('./version.js').then((v) => v.printVersion({}));
} else {
  program.parseAsync(process.argv).catch((e: unknown) => {
    reportError(e);
    process.exit(exitCodeOf(e));
  });
}
