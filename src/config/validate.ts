import fs from 'node:fs';
import path from 'node:path';
import YAML, { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node as YamlNode } from 'yaml';
import { z, type ZodIssue, type ZodTypeAny } from 'zod';
import { ConfigError, ErrorCode, HastackError } from '../shared/errors.js';
import { crossFieldProblems, formatKey } from './load.js';
import { configSchema, type Config } from './schema.js';

/*
 * `hastack config validate` and every command that reads a file: every problem at once, each
 * with its file, line and column, and a "did you mean" for a misspelt key or value. The schema's
 * problems first (a file that does not fit the schema has no config to cross-check), then the
 * cross-field rules (load.ts), then the checks the caller passes in (the layers above: the
 * backup schedule's cron ranges, the app module's existence).
 */

/** One problem, where it is in the file (absent line: the key is not written there, or no file). */
export interface ConfigProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** `nodes[0].services`, `(top level)`. */
  readonly key: string;
  readonly message: string;
}

/** A check from a layer above config: problems of a config the schema and the rules accepted. */
export type ConfigCheck = (config: Config, ctx: { readonly configDir: string }) => ConfigError[];

export interface Validation {
  /** Present when the schema accepted the file (it may still have problems). */
  readonly config?: Config;
  readonly problems: readonly ConfigProblem[];
}

/** `FILE:LINE:COL: KEY: MESSAGE` (compilers' order, so editors and terminals link it). */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.column ?? 1}`;
  return `${where}: ${p.key}: ${p.message}`;
}

/** Every problem of a config file, thrown by `loadConfigFile` (exit 2); `key` is the first one's. */
export class ConfigProblemsError extends ConfigError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    const first = problems[0];
    super(first?.key ?? '(top level)', first?.message ?? 'invalid');
    this.problems = problems;
    this.message = problems.map(formatProblem).join('\n');
  }
}

/** `nodes[2].services[0]` → `['nodes', 2, 'services', 0]`: a ConfigError's key back into a path. */
export function parseKey(key: string): Array<string | number> {
  if (key.startsWith('(') || key.startsWith('-')) return [];
  const out: Array<string | number> = [];
  for (const m of key.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''));
  return out;
}

/** The zod type at a path of the config (wrappers removed), for known keys and enum values. */
export function schemaAt(p: ReadonlyArray<string | number>): ZodTypeAny | undefined {
  let t: ZodTypeAny | undefined = configSchema;
  for (const part of p) {
    t = unwrap(t);
    if (t instanceof z.ZodObject) t = (t.shape as Record<string, ZodTypeAny>)[String(part)];
    else if (t instanceof z.ZodArray) t = t.element as ZodTypeAny;
    else if (t instanceof z.ZodRecord) t = t.valueSchema as ZodTypeAny;
    else if (t instanceof z.ZodUnion) {
      const options = t.options as ZodTypeAny[];
      t = options.map(unwrap).find((o) => o instanceof z.ZodObject && String(part) in (o.shape as object));
    } else return undefined;
    if (t === undefined) return undefined;
  }
  return unwrap(t);
}

export function unwrap(t: ZodTypeAny | undefined): ZodTypeAny | undefined {
  let cur = t;
  for (let i = 0; i < 10 && cur !== undefined; i++) {
    if (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) cur = cur.unwrap() as ZodTypeAny;
    else if (cur instanceof z.ZodDefault) cur = cur.removeDefault() as ZodTypeAny;
    else if (cur instanceof z.ZodEffects) cur = cur.innerType() as ZodTypeAny;
    else return cur;
  }
  return cur;
}

/** The keys an object at this path knows. */
function knownKeys(p: ReadonlyArray<string | number>): string[] {
  const t = schemaAt(p);
  if (t instanceof z.ZodObject) return Object.keys(t.shape as object);
  if (t instanceof z.ZodUnion) return [...new Set((t.options as ZodTypeAny[]).flatMap((o) => (o instanceof z.ZodObject ? Object.keys(o.shape as object) : [])))];
  return [];
}

/** Optimal string alignment distance (a swapped pair of letters counts once: `databse`). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] ?? 0, ((d[i - 2] as number[])[j - 2] ?? 0) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] ?? 0;
}

/** The closest candidate, if close enough to be a typo (a third of the word, at least 2 edits). */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = c.toLowerCase() === word.toLowerCase() ? 0 : distance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) [best, bestD] = [c, dist];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const EXPECTED: Readonly<Record<string, string>> = {
  boolean: 'true or false',
  number: 'a number',
  string: 'text',
  array: 'a list',
  object: 'a mapping of keys',
  integer: 'a whole number',
};

function valueText(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return `"${v}"`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

interface Located {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
  /** Point at the key itself (an unknown key), not its value. */
  readonly atKey?: boolean;
}

function valueAt(value: unknown, p: ReadonlyArray<string | number>): unknown {
  let v = value;
  for (const part of p) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[part] : undefined;
  return v;
}

/** A zod issue in words a person edits a YAML file with. */
function describeIssue(issue: ZodIssue, input: unknown): Located[] {
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => {
        const known = knownKeys(issue.path);
        const guess = didYouMean(k, known);
        const hint = guess !== undefined ? `did you mean "${guess}"?` : known.length > 0 ? `the keys here are ${known.join(', ')}` : 'remove it';
        return { path: [...issue.path, k], message: `unknown key "${k}"; ${hint}`, atKey: true };
      });
    case 'invalid_type': {
      if (issue.received === 'undefined') return [{ path: issue.path, message: 'is required' }];
      const v = valueAt(input, issue.path);
      const yaml11 =
        issue.expected === 'boolean' && typeof v === 'string' && /^(yes|no|on|off|y|n)$/i.test(v) ? ' (YAML 1.2 reads yes, no, on and off as text: write true or false)' : '';
      return [{ path: issue.path, message: `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${valueText(v)}${yaml11}` }];
    }
    case 'invalid_enum_value': {
      const options = issue.options.map(String);
      const guess = didYouMean(String(issue.received), options);
      return [{ path: issue.path, message: `"${String(issue.received)}" is not one of ${options.join(', ')}${guess !== undefined ? `; did you mean "${guess}"?` : ''}` }];
    }
    case 'too_small':
    case 'too_big': {
      const v = valueAt(input, issue.path);
      return [{ path: issue.path, message: typeof v === 'number' ? `${issue.message.replace(/^Number must be/, 'must be')}, got ${v}` : issue.message }];
    }
    default:
      return [{ path: issue.path, message: issue.message }];
  }
}

/** Line and column of the key or value at `p`, or of the nearest ancestor the file writes. */
function locate(doc: Document, lc: LineCounter, p: ReadonlyArray<string | number>, atKey: boolean): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let last: { line: number; column: number } | undefined;
  const pos = (n: YamlNode | null | undefined): { line: number; column: number } | undefined => {
    const at = n?.range?.[0];
    if (at === undefined) return undefined;
    const lp = lc.linePos(at);
    return { line: lp.line, column: lp.col };
  };
  last = pos(node as YamlNode);
  for (const [i, part] of p.entries()) {
    const final = i === p.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(part));
      if (pair === undefined) return last;
      const key = pair.key as YamlNode;
      const value = pair.value as YamlNode | null;
      // A collection's problem is shown on its key's line; a scalar's on the value itself.
      if (final && (atKey || value === null || !isScalar(value))) return pos(key) ?? last;
      last = pos(value) ?? pos(key) ?? last;
      node = value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as YamlNode | undefined;
      if (item === undefined) return last;
      last = pos(item) ?? last;
      node = item;
    } else {
      return last;
    }
  }
  return last;
}

/**
 * Every problem of a YAML config text. `checks` run only on a config the schema accepted;
 * `configDir` is where relative paths in it start (the file's folder).
 */
export function validateConfigText(text: string, opts: { file: string; configDir: string; checks?: readonly ConfigCheck[] }): Validation {
  const lc = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lc, uniqueKeys: true });
  const file = opts.file;
  if (doc.errors.length > 0) {
    return {
      problems: doc.errors.map((e) => {
        const lp = e.linePos?.[0];
        const reason = (e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '');
        return { file, ...(lp ? { line: lp.line, column: lp.col } : {}), key: '(yaml)', message: `not valid YAML: ${reason}` };
      }),
    };
  }
  const input: unknown = doc.toJS();
  if (input === null || input === undefined) {
    return { problems: [{ file, line: 1, column: 1, key: '(top level)', message: 'the file is empty; a cluster needs "nodes" at least (hastack init writes a complete one)' }] };
  }
  const at = (l: Located): ConfigProblem => ({ file, ...(locate(doc, lc, l.path, l.atKey ?? false) ?? {}), key: formatKey(l.path), message: l.message });
  const result = configSchema.safeParse(input);
  if (!result.success) {
    let located = result.error.issues.flatMap((i) => describeIssue(i, input));
    // `service:` for `services:`: the unknown key's "did you mean" already says what is missing.
    const suggested = new Set(located.flatMap((l) => (l.atKey ? [formatKey([...l.path.slice(0, -1), /did you mean "([^"]+)"/.exec(l.message)?.[1] ?? ''])] : [])));
    located = located.filter((l) => !(l.message === 'is required' && suggested.has(formatKey(l.path))));
    return { problems: sortProblems(located.map(at)) };
  }
  const config = result.data;
  const errors = [...crossFieldProblems(config), ...(opts.checks ?? []).flatMap((check) => check(config, { configDir: opts.configDir }))];
  return { config, problems: errors.map((e) => at({ path: parseKey(e.key), message: e.message.slice(e.key.length + 2) })) };
}

function sortProblems(ps: ConfigProblem[]): ConfigProblem[] {
  return [...ps].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** Reads and validates a config file: the config, or every problem at once (`ConfigProblemsError`, exit 2). */
export function loadConfigFile(file: string, opts: { checks?: readonly ConfigCheck[] } = {}): Config {
  const v = validateConfigFile(file, opts);
  if (v.config === undefined || v.problems.length > 0) throw new ConfigProblemsError(v.problems);
  return v.config;
}

export function validateConfigFile(file: string, opts: { checks?: readonly ConfigCheck[] } = {}): Validation {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new HastackError(ErrorCode.CONFIG_NOT_FOUND, `cannot read ${file}; run "hastack init -f ${file}" to write one`);
  }
  return validateConfigText(text, { file, configDir: path.dirname(path.resolve(file)), ...(opts.checks ? { checks: opts.checks } : {}) });
}
