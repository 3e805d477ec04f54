import { ErrorCode, HastackError } from '../shared/errors.js';

/**
 * The controller's SSH key is authorised on every host only as
 * `restrict,from="<controller address>",command="<hastack> _agent-gate --state DIR"`: whatever
 * command the controller asks for, sshd runs the gate, which reads the request from
 * `SSH_ORIGINAL_COMMAND` and lets through only the agent verbs the automatic failover needs:
 * `status` (what runs), `node-down` (the fence: SIGKILL every unit of a node, nothing restarts
 * them; `--record-replica` records its database's role first) and `record-role` (the fenced
 * primary comes back as a replica). No shell, no other verb,
 * no other state directory, no argument the verb does not take.
 */
export const GATED_VERBS = {
  status: { required: ['--node'], optional: [] },
  'node-down': { required: ['--node'], optional: ['--record-replica'] },
  'record-role': { required: ['--id', '--role'], optional: [] },
} as const satisfies Record<string, { required: readonly string[]; optional: readonly string[] }>;
export type GatedVerb = keyof typeof GATED_VERBS;

export interface GatedCall {
  readonly verb: GatedVerb;
  /** The verb's options, `--state` excepted. */
  readonly options: Readonly<Record<string, string>>;
}

/** The words of a command line as `shq` (ssh-args.ts) quotes them: plain words and '...' strings, blanks between. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let word = '';
    while (i < line.length && line[i] !== ' ') {
      const c = line[i] as string;
      if (c === "'") {
        const end = line.indexOf("'", i + 1);
        if (end < 0) throw refuse('an unterminated quote');
        word += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '\\' && line[i + 1] === "'") {
        // shq writes a quote inside a quoted word as '\''.
        word += "'";
        i += 2;
      } else if (/[A-Za-z0-9_@%+=:,./-]/.test(c)) {
        word += c;
        i++;
      } else {
        throw refuse(`the character ${JSON.stringify(c)} (no shell here)`);
      }
    }
    words.push(word);
  }
  return words;
}

function refuse(why: string): HastackError {
  return new HastackError(ErrorCode.BAD_REQUEST, `the controller's key may only run the agent's ${Object.keys(GATED_VERBS).join(', ')} verbs; refused: ${why}`);
}

/**
 * Checks the command the controller sent (`[node main.js | hastack] _agent VERB --state DIR
 * --opt value ...`) against the gate's rules. Pure; throws BAD_REQUEST with the reason.
 */
export function parseGatedCommand(original: string | undefined, stateDir: string): GatedCall {
  if (original === undefined || original.trim() === '') throw refuse('no command (an interactive shell)');
  const words = splitWords(original.trim());
  const at = words.indexOf('_agent');
  // The program is the host's node and main.js, or the installed `hastack` wrapper: at most 2 words.
  if (at < 1 || at > 2) throw refuse(`not an agent command: ${JSON.stringify(original.slice(0, 200))}`);
  const verb = words[at + 1] ?? '';
  if (!Object.hasOwn(GATED_VERBS, verb)) throw refuse(`the verb ${JSON.stringify(verb)}`);
  const rule = GATED_VERBS[verb as GatedVerb];
  const allowed = new Set<string>(['--state', ...rule.required, ...rule.optional]);
  const options: Record<string, string> = {};
  const rest = words.slice(at + 2);
  for (let i = 0; i < rest.length; i += 2) {
    const k = rest[i] as string;
    const v = rest[i + 1];
    if (!allowed.has(k)) throw refuse(`the argument ${JSON.stringify(k)} of ${verb}`);
    if (v === undefined || v.startsWith('--')) throw refuse(`${k} without a value`);
    if (Object.hasOwn(options, k)) throw refuse(`${k} given twice`);
    options[k] = v;
  }
  if (options['--state'] !== stateDir) throw refuse(`another state directory than ${stateDir}`);
  for (const k of rule.required) if (!Object.hasOwn(options, k)) throw refuse(`${verb} without ${k}`);
  const { '--state': _state, ...own } = options;
  return { verb: verb as GatedVerb, options: own };
}

/** The `command="..."` option of the authorized_keys line: the gate, for this state directory. */
export function forcedCommand(hastackBin: string, stateDir: string): string {
  for (const p of [hastackBin, stateDir]) {
    if (!/^[A-Za-z0-9_@%+=:,./-]+$/.test(p))
      throw new HastackError(ErrorCode.CONFIG_INVALID, `${p}: hosts.installDir and hosts.stateDir must be plain paths (no blanks or quotes) to go into authorized_keys`);
  }
  return `${hastackBin} _agent-gate --state ${stateDir}`;
}

/**
 * An authorized_keys line of a key hastack gives a machine (the controller's, the backup key): no
 * shell, no forwarding, no pty (`restrict`), accepted only from `fromAddresses`, and only to run
 * `command` (a gate that reads SSH_ORIGINAL_COMMAND).
 */
export function restrictedKeyLine(publicKey: string, command: string, fromAddresses: string | readonly string[]): string {
  const from = typeof fromAddresses === 'string' ? [fromAddresses] : fromAddresses;
  if (from.length === 0) throw new HastackError(ErrorCode.CONFIG_INVALID, 'no address to accept the key from (from=): a key accepted from anywhere is not restricted');
  for (const a of from) {
    if (!/^[0-9A-Fa-f.:/]+$/.test(a))
      throw new HastackError(ErrorCode.CONFIG_INVALID, `${a}: an address in from= must be an IP address, to restrict the key to the machines that use it`);
  }
  if (/["\r\n]/.test(command)) throw new HastackError(ErrorCode.INTERNAL, `the forced command ${JSON.stringify(command)} holds a quote or a line break`);
  return `restrict,from="${[...new Set(from)].join(',')}",command="${command}" ${publicKey.trim()}`;
}
