import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { configJsonSchema, didYouMean, explainKey, type KeyDocs } from '../config/index.js';
import { packageRoot } from '../shared/module-path.js';
import { isJson, type OutputOptions } from './output.js';

/** The keys' documentation the build extracts from src/config's comments (scripts/config-docs.mjs); none when absent. */
export function keyDocs(): KeyDocs {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageRoot(), 'dist/src/config/key-docs.json'), 'utf8')) as KeyDocs;
  } catch {
    return {};
  }
}

/** `hastack config schema`. */
export function printSchema(): void {
  process.stdout.write(JSON.stringify(configJsonSchema(keyDocs()), null, 2) + '\n');
}

/** `hastack explain [KEY]`: 0, or 2 for a key hastack.yaml does not have. */
export function explain(key: string | undefined, o: OutputOptions): number {
  const r = explainKey(key ?? '', keyDocs());
  if (r === undefined) {
    const parent = (key ?? '').split('.').slice(0, -1).join('.');
    const p = explainKey(parent, {});
    const last = (key ?? '').split('.').pop() ?? '';
    const guess = p?.keys !== undefined ? didYouMean(last, p.keys) : undefined;
    const hint = guess !== undefined ? `; did you mean "${parent === '' ? '' : `${parent}.`}${guess}"?` : p?.keys ? `; the keys of ${p.key} are ${p.keys.join(', ')}` : '';
    process.stderr.write(`hastack: no key "${key}" in hastack.yaml${hint}\n`);
    return 2;
  }
  if (isJson(o)) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  const lines = [`${r.key}: ${r.type}${r.required ? ' (required)' : ''}`];
  if (r.default !== undefined) lines.push(`default: ${YAML.stringify(r.default, { lineWidth: 0 }).trim().replace(/\n/g, '\n  ')}`);
  if (r.doc !== undefined) lines.push('', wrap(r.doc, 78));
  if (r.keys !== undefined) lines.push('', `keys: ${r.keys.join(', ')}`, `(hastack explain ${r.key === '(top level)' ? 'KEY' : `${r.key}.KEY`})`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function wrap(text: string, width: number): string {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line !== '' && line.length + w.length + 1 > width) {
      out.push(line);
      line = w;
    } else line = line === '' ? w : `${line} ${w}`;
  }
  if (line !== '') out.push(line);
  return out.join('\n');
}
