/**
 * Issue 25: `hastack config schema` (a JSON Schema made from the zod schema) accepts both presets
 * and every example config, and an editor-style check (ajv, as the YAML language server would)
 * rejects each broken case a schema can express. What it cannot (collisions, cron ranges, the app
 * module's existence) is `config validate`'s (config-validate.unit.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import YAML from 'yaml';
import { configJsonSchema, PRESET_NAMES, preset, renderConfigYaml } from '../../src/config/index.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

// ajv-formats is CommonJS (module.exports is the plugin): its types describe the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => void;

function validator(schema: object): (doc: unknown) => string[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const check = ajv.compile(schema);
  return (doc) => (check(doc) ? [] : (check.errors ?? []).map((e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message ?? ''}`));
}

const head = 'cluster: opschema\naddressBase: 127.0.238\n';
const ok = 'nodes:\n  - name: a\n    services: [lb, app, mariadb, redis]\n';
const BROKEN: Record<string, string> = {
  'service: instead of services:': `${head}nodes:\n  - name: a\n    service: [lb, app, mariadb, redis]\n`,
  'databse:': `${head}${ok}databse:\n  mode: replication\n`,
  'database: {semiSync: yes}': `${head}${ok}database: {semiSync: yes}\n`,
  'an empty file': '',
  'an unknown service': `${head}nodes:\n  - name: a\n    services: [lb, app, mariadb, redsi]\n`,
  'a port out of range': `${head}ports: {app: 70000}\n${ok}`,
  'an unknown enum value': `${head}${ok}lb: {policy: round-robbin}\n`,
};

describe('config schema (JSON Schema from the zod schema)', () => {
  const check = validator(configJsonSchema());

  it('accepts both presets and every example config', () => {
    for (const name of PRESET_NAMES) assert.deepEqual(check(YAML.parse(renderConfigYaml(preset(name)))), [], name);
    const examples = fs.readdirSync(path.join(REPO_ROOT, 'examples'), { recursive: true, encoding: 'utf8' }).filter((f) => /hastack[^/]*\.ya?ml$/.test(f));
    assert.ok(examples.length >= 2, `example configs: ${examples.join(', ')}`);
    for (const f of examples) assert.deepEqual(check(YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'examples', f), 'utf8'))), [], f);
  });

  it('rejects each broken case an editor could flag', () => {
    for (const [name, text] of Object.entries(BROKEN)) assert.notDeepEqual(check(YAML.parse(text) ?? null), [], name);
  });

  it('carries the documentation and defaults of the keys; `hastack config schema` prints it, init names it', async () => {
    const res = await runCli(['config', 'schema']);
    assert.equal(res.code, 0, res.stderr);
    const printed = JSON.parse(res.stdout) as { properties: Record<string, { properties: Record<string, { description?: string; default?: unknown }> }> };
    const semiSync = printed.properties.database?.properties.semiSync;
    assert.equal(semiSync?.default, true);
    assert.match(semiSync?.description ?? '', /Semi-sync AFTER_SYNC/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'dist/hastack.schema.json'), 'utf8')), printed);
  });
});
