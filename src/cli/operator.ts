import { Argument, Option, type Command } from 'commander';

/*
 * The operator's conveniences (issue 25), registered from main.ts in one call: `config
 * validate|show|schema`, `explain`, `version`. Each command still imports its module only when
 * it runs.
 */

type ConfigOpts = (c: Command) => Command;

/** `-o text|json`, the one output flag of read commands and dry-run plans (`--json` is its alias). */
export function outputOption(): Option {
  return new Option('-o, --output <format>', 'text or json').choices(['text', 'json']);
}

export function registerOperatorCommands(program: Command, configOpts: ConfigOpts): void {
  // `-o json` reaches the commands that read `--json` as that flag.
  program.hook('preAction', (_root, cmd) => {
    const o = cmd.opts<{ output?: string; config?: string; file?: string }>();
    if (o.output === 'json') cmd.setOptionValue('json', true);
    // -c names the config file on every command (logs and events, where -f follows, have only -c).
    if (o.config !== undefined && o.file === undefined) cmd.setOptionValue('file', o.config);
    // A parent with options of its own (`backup`) takes them wherever they stand, also after its
    // subcommand's name (commander's default): `backup list --json -f x.yaml` gets them back here.
    const parent = cmd.parent?.parent ? cmd.parent : undefined;
    if (parent !== undefined) {
      const mine = new Set(cmd.options.map((x) => x.attributeName()));
      for (const [k, v] of Object.entries(parent.opts())) if (mine.has(k) && cmd.getOptionValue(k) === undefined) cmd.setOptionValue(k, v);
      if (cmd.opts<{ output?: string }>().output === 'json') cmd.setOptionValue('json', true);
    }
  });
  const config = program.command('config').description('the cluster definition: validate it, show it resolved, its JSON Schema');
  configOpts(config.command('validate'))
    .description('every problem of the file at once, each with file, line and column, and every check up and deploy make before starting (exit 0 valid, 2 not)')
    .addOption(outputOption())
    .action(async (o: Parameters<typeof import('./config.js').configValidate>[0]) => {
      process.exitCode = (await import('./config.js')).configValidate(o);
    });
  configOpts(config.command('show'))
    .description("the config with every default filled in, and where each node's services live")
    .addOption(outputOption())
    .action(async (o: Parameters<typeof import('./config.js').configShow>[0]) => (await import('./config.js')).configShow(o));
  config
    .command('schema')
    .description("the JSON Schema of hastack.yaml (for editors: init's '# yaml-language-server: $schema=' line points at it)")
    .action(async () => (await import('./schema-cli.js')).printSchema());
  program
    .command('explain')
    .description('what a config key means: its documentation, type and default (like "explain database.semiSync"; no KEY: the top-level keys)')
    .argument('[key]')
    .addOption(outputOption())
    .action(async (key: string | undefined, o: { output?: 'text' | 'json' }) => {
      process.exitCode = (await import('./schema-cli.js')).explain(key, o);
    });
  // logs and events: -f follows (as everywhere else logs are read); the config file is -c / --file.
  const followOpts = (c: Command): Command =>
    c
      .option('-c, --file <path>', 'cluster definition (default: ./hastack.yaml, or the ideal preset when absent)')
      .option('--preset <name>', 'use a preset instead of a file: ideal or simple')
      .option('--state-root <dir>', 'where cluster state lives (default: .hastack beside the config)');
  followOpts(program.command('logs'))
    .description('the logs of every service (no NODE), of a node, or of one service, each line prefixed node/service |')
    .argument('[node]')
    .argument('[service]')
    .option('-f, --follow', 'keep printing new lines, every file interleaved')
    .option('-n, --lines <n>', 'lines per log (default 40; every line with --since)')
    .option('--since <when>', 'only lines stamped since: a duration (10m, 2h) or a date and time')
    .option('-t, --timestamps', 'prefix each line with its time')
    .action(async (node: string | undefined, service: string | undefined, o: Parameters<typeof import('./logs.js').logsCli>[2]) =>
      (await import('./logs.js')).logsCli(node, service, o),
    );
  followOpts(program.command('events'))
    .description("the cluster's event log: starts, health changes, faults, failovers (-f to follow)")
    .option('-f, --follow', 'keep printing new events (-o json: one object per line)')
    .option('--since <when>', 'only events since: a duration (10m, 2h) or a date and time')
    .addOption(outputOption())
    .action(async (o: Parameters<typeof import('./events.js').eventsCli>[0]) => (await import('./events.js')).eventsCli(o));
  configOpts(program.command('history'))
    .description('the failovers, switchovers and restores on record, with their journal')
    .addOption(outputOption())
    .action(async (o: Parameters<typeof import('./events.js').historyCli>[0]) => (await import('./events.js')).historyCli(o));
  program
    .command('completion')
    .description('a shell completion script: eval "$(hastack completion bash)" (or zsh)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .action(async (shell: 'bash' | 'zsh') => void process.stdout.write((await import('./completion.js')).completionScript(program, shell)));
  program
    .command('version')
    .description("hastack's version and commit, Node's, and each engine's")
    .addOption(outputOption())
    .action(async (o: { output?: 'text' | 'json' }) => (await import('./version.js')).printVersion(o));
}

/** `hastack --version` / `-V`, answered before commander parses (it has no version of its own: the engines' are asked when needed). */
export function wantsVersion(argv: readonly string[]): boolean {
  return argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V');
}
