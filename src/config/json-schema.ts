import { z, type ZodTypeAny } from 'zod';
import { configSchema } from './schema.js';
import { schemaAt, unwrap } from './validate.js';

/*
 * `hastack config schema`: a JSON Schema (draft-07, what editors' YAML language server reads) of hastack.yaml made from the zod schema,
 * for editors (the yaml-language-server line `init` writes) and CI checks. A small converter for
 * the zod types the schema uses; what JSON Schema cannot say (cross-field rules, cron ranges, the
 * app module's existence) is `hastack config validate`'s.
 */

export type JsonSchema = { [k: string]: unknown };

/** Key → documentation: `.describe()` texts first, then the comments above each key (key-docs.json, built from the source). */
export type KeyDocs = Readonly<Record<string, string>>;

function docOf(t: ZodTypeAny, key: string, docs: KeyDocs): string | undefined {
  // A wrapper's own description (`.optional().describe(...)`) or the inner type's.
  let cur: ZodTypeAny | undefined = t;
  for (let i = 0; i < 10 && cur !== undefined; i++) {
    if (cur.description !== undefined) return cur.description;
    const next = unwrapOnce(cur);
    if (next === cur) break;
    cur = next;
  }
  return docs[key];
}

function unwrapOnce(t: ZodTypeAny): ZodTypeAny {
  if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) return t.unwrap() as ZodTypeAny;
  if (t instanceof z.ZodDefault) return t.removeDefault() as ZodTypeAny;
  if (t instanceof z.ZodEffects) return t.innerType() as ZodTypeAny;
  return t;
}

/** The default of a key (`.default(...)` anywhere in its wrappers), if it has one. */
export function defaultOf(t: ZodTypeAny): { value: unknown } | undefined {
  let cur: ZodTypeAny = t;
  for (let i = 0; i < 10; i++) {
    if (cur instanceof z.ZodDefault) return { value: (cur._def as { defaultValue: () => unknown }).defaultValue() };
    const next = unwrapOnce(cur);
    if (next === cur) return undefined;
    cur = next;
  }
  return undefined;
}

function isOptional(t: ZodTypeAny): boolean {
  return t.isOptional() || defaultOf(t) !== undefined;
}

function convert(t: ZodTypeAny, key: string, docs: KeyDocs): JsonSchema {
  const out = convertInner(unwrap(t) ?? t, key, docs);
  const doc = docOf(t, key, docs);
  if (doc !== undefined) out.description = doc;
  const d = defaultOf(t);
  // An empty-object default is "every key of it at its own default": shown by the keys themselves.
  if (d !== undefined && !(typeof d.value === 'object' && d.value !== null && Object.keys(d.value).length === 0)) out.default = d.value;
  return out;
}

function convertInner(t: ZodTypeAny, key: string, docs: KeyDocs): JsonSchema {
  const child = (k: string): string => (key === '' ? k : `${key}.${k}`);
  if (t instanceof z.ZodObject) {
    const shape = t.shape as Record<string, ZodTypeAny>;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const [k, v] of Object.entries(shape)) {
      properties[k] = convert(v, child(k), docs);
      if (!isOptional(v)) required.push(k);
    }
    const strict = (t._def as { unknownKeys?: string }).unknownKeys === 'strict';
    return { type: 'object', properties, ...(required.length > 0 ? { required } : {}), ...(strict ? { additionalProperties: false } : {}) };
  }
  if (t instanceof z.ZodString) {
    const s: JsonSchema = { type: 'string' };
    for (const c of t._def.checks) {
      if (c.kind === 'regex') s.pattern = c.regex.source;
      else if (c.kind === 'min') s.minLength = c.value;
      else if (c.kind === 'max') s.maxLength = c.value;
      else if (c.kind === 'email') s.format = 'email';
      else if (c.kind === 'url') s.format = 'uri';
      else if (c.kind === 'ip') s.format = 'ipv4';
    }
    return s;
  }
  if (t instanceof z.ZodNumber) {
    const s: JsonSchema = { type: t.isInt ? 'integer' : 'number' };
    for (const c of t._def.checks) {
      if (c.kind === 'min') s[c.inclusive ? 'minimum' : 'exclusiveMinimum'] = c.value;
      else if (c.kind === 'max') s[c.inclusive ? 'maximum' : 'exclusiveMaximum'] = c.value;
    }
    return s;
  }
  if (t instanceof z.ZodBoolean) return { type: 'boolean' };
  if (t instanceof z.ZodEnum) return { type: 'string', enum: [...(t.options as string[])] };
  if (t instanceof z.ZodLiteral) return { const: t.value as unknown };
  if (t instanceof z.ZodArray) {
    const s: JsonSchema = { type: 'array', items: convert(t.element as ZodTypeAny, key, {}) };
    if (t._def.minLength) s.minItems = t._def.minLength.value;
    if (t._def.maxLength) s.maxItems = t._def.maxLength.value;
    return s;
  }
  if (t instanceof z.ZodRecord) {
    const keySchema = convertInner(unwrap(t.keySchema as ZodTypeAny) ?? (t.keySchema as ZodTypeAny), key, {});
    return {
      type: 'object',
      additionalProperties: convert(t.valueSchema as ZodTypeAny, key, {}),
      ...(typeof keySchema.pattern === 'string' ? { propertyNames: { pattern: keySchema.pattern } } : {}),
    };
  }
  if (t instanceof z.ZodUnion) return { anyOf: (t.options as ZodTypeAny[]).map((o) => convert(o, key, docs)) };
  return {};
}

/** The whole schema of hastack.yaml. */
export function configJsonSchema(docs: KeyDocs = {}): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://hastack.dev/schema/hastack.schema.json',
    title: 'hastack.yaml',
    description: 'A hastack cluster definition (hastack config validate checks what a schema cannot: cross-field rules, address and port collisions, cron ranges, the app module).',
    ...convert(configSchema, '', docs),
  };
}

/** `hastack explain KEY`: what is known of one key, or undefined for no such key. */
export function explainKey(
  key: string,
  docs: KeyDocs = {},
): { key: string; type: string; doc?: string; default?: unknown; keys?: string[]; values?: string[]; required: boolean } | undefined {
  const parts = key === '' ? [] : key.replace(/\[\d*\]/g, '').split('.');
  const t = parts.length === 0 ? configSchema : schemaAtRaw(parts);
  if (t === undefined) return undefined;
  const inner = unwrap(t) ?? t;
  const dotted = parts.join('.');
  const json = convertInner(inner, dotted, {});
  const doc = parts.length === 0 ? 'A hastack cluster definition.' : docOf(t, dotted, docs);
  const d = defaultOf(t);
  const objectKeys = (o: ZodTypeAny | undefined): string[] => {
    const u = unwrap(o);
    if (u instanceof z.ZodObject) return Object.keys(u.shape as object);
    if (u instanceof z.ZodArray) return objectKeys(u.element as ZodTypeAny);
    return [];
  };
  const keys = objectKeys(inner);
  return {
    key: dotted === '' ? '(top level)' : dotted,
    type: typeText(json),
    ...(doc !== undefined ? { doc } : {}),
    ...(d !== undefined ? { default: d.value } : {}),
    ...(keys.length > 0 ? { keys } : {}),
    ...(Array.isArray(json.enum) ? { values: json.enum as string[] } : {}),
    required: !isOptional(t),
  };
}

/** Like schemaAt, but keeps the key's own wrappers (its default and optionality). */
function schemaAtRaw(parts: readonly string[]): ZodTypeAny | undefined {
  const parent = schemaAt(parts.slice(0, -1));
  const last = parts[parts.length - 1] ?? '';
  const p = parent instanceof z.ZodArray ? unwrap(parent.element as ZodTypeAny) : parent;
  if (p instanceof z.ZodObject) return (p.shape as Record<string, ZodTypeAny>)[last];
  if (p instanceof z.ZodUnion) {
    for (const o of p.options as ZodTypeAny[]) {
      const u = unwrap(o);
      if (u instanceof z.ZodObject && last in (u.shape as object)) return (u.shape as Record<string, ZodTypeAny>)[last];
    }
  }
  return undefined;
}

function typeText(s: JsonSchema): string {
  if (Array.isArray(s.enum)) return `one of ${(s.enum as string[]).join(', ')}`;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return (s.anyOf as JsonSchema[]).map(typeText).join(' | ');
  const bounds = [s.minimum !== undefined ? `>= ${String(s.minimum)}` : '', s.maximum !== undefined ? `<= ${String(s.maximum)}` : ''].filter((x) => x !== '').join(', ');
  if (s.type === 'array') return `list of ${typeText((s.items as JsonSchema | undefined) ?? {})}`;
  if (s.type === 'string' && typeof s.pattern === 'string') return `string matching /${s.pattern}/`;
  return `${String(s.type ?? 'any')}${bounds !== '' ? ` (${bounds})` : ''}`;
}
