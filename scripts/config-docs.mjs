// The documentation of every hastack.yaml key, from the comments above it in src/config's zod
// schema, for `hastack explain KEY` and the descriptions of `hastack config schema`: written to
// dist/src/config/key-docs.json after tsc (npm run build). A key's `.describe()` text, when it has
// one, wins at run time; this keeps the schema's comments the one place a key is documented.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = ['src/config/schema.ts', 'src/config/app-schema.ts', 'src/config/backup-schema.ts'];
const consts = new Map();
const sources = [];
for (const f of files) {
  const text = fs.readFileSync(path.join(root, f), 'utf8');
  const sf = ts.createSourceFile(f, text, ts.ScriptTarget.ES2022, true);
  sources.push(sf);
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, { node: d.initializer, sf });
  }
}

function commentOf(node, sf) {
  const text = sf.getFullText();
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const parts = ranges.map((r) =>
    text
      .slice(r.pos, r.end)
      .replace(/^\/\*\*?|\*\/$/g, '')
      .split('\n')
      .map((l) => l.replace(/^\s*(\*|\/\/)\s?/, '').trim())
      .join(' '),
  );
  return parts.join(' ').replace(/\s+/g, ' ').trim();
}

const docs = {};
function walk(node, sf, prefix, stack) {
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return;
  if (ts.isObjectLiteralExpression(node)) {
    for (const p of node.properties) {
      if (!ts.isPropertyAssignment(p)) {
        walk(p, sf, prefix, stack);
        continue;
      }
      const name = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) ? p.name.text : undefined;
      if (name === undefined) continue;
      const key = prefix === '' ? name : `${prefix}.${name}`;
      const doc = commentOf(p, sf);
      if (doc !== '' && docs[key] === undefined) docs[key] = doc;
      walk(p.initializer, sf, key, stack);
    }
    return;
  }
  if (ts.isIdentifier(node) && consts.has(node.text) && !stack.includes(node.text)) {
    const c = consts.get(node.text);
    walk(c.node, c.sf, prefix, [...stack, node.text]);
    return;
  }
  ts.forEachChild(node, (child) => walk(child, sf, prefix, stack));
}
const top = consts.get('configSchema');
walk(top.node, top.sf, '', ['configSchema']);
const out = path.join(root, 'dist/src/config/key-docs.json');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(docs, null, 1) + '\n');
process.stdout.write(`config docs: ${path.relative(root, out)} (${Object.keys(docs).length} keys)\n`);

// The JSON Schema beside it (dist/hastack.schema.json): what `init`'s yaml-language-server line names.
const { configJsonSchema } = await import(pathToFileURL(path.join(root, 'dist/src/config/index.js')).href);
const schemaFile = path.join(root, 'dist/hastack.schema.json');
fs.writeFileSync(schemaFile, JSON.stringify(configJsonSchema(docs), null, 2) + '\n');
process.stdout.write(`config schema: ${path.relative(root, schemaFile)}\n`);
