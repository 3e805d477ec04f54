#!/usr/bin/env node
/*
 * Codemod: every import that enters a folder of src/ other than through its index.ts (the
 * `enter-through-index` rule of .dependency-cruiser.cjs) is rewritten to import that folder's
 * index.ts, and the index gains an explicit re-export of exactly the names imported from outside
 * (`export { a } from './x.js'`, `export type { T } from './x.js'`; never `export *`, so two files
 * exporting the same name is an error here, not an ambiguity later).
 *
 *   node scripts/codemods/index-imports.mjs            rewrite the tree
 *   node scripts/codemods/index-imports.mjs --dry-run  only say what it would do
 *
 * Idempotent: a second run finds no violation and changes nothing. It asks dependency-cruiser
 * (with the repository's own config) which edges break the rule, so the rule and the codemod never
 * disagree; it leaves alone an edge that also breaks another rule (layer-order, not-to-test, or one
 * listed as pending in the config): an upward import is removed by moving code, not re-routed.
 *
 * Handled import forms: `import { a, type B } from`, `import type { B } from`, `export { a } from`,
 * `export type { B } from`, and `typeof import('x').a` / `import('x').T` in types. A dynamic
 * `await import('x')` is left as it is: the rule lets it name one file, so that a command loads
 * only what it runs. Anything else (default or namespace imports of another folder's file,
 * `export *`) is reported and left as it is, and the exit code is 1.
 * After it, static imports of one index in one file are merged into one declaration.
 * Run `npm run format` afterwards: the code it writes is correct but not laid out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { cruise } from 'dependency-cruiser';
import extractDepcruiseConfig from 'dependency-cruiser/config-utl/extract-depcruise-config';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROOTS = ['src', 'test', 'bench', 'examples', 'dashboard/src'];
const RULE = 'enter-through-index';
const MARKER = '// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").';
const dryRun = process.argv.includes('--dry-run');
process.chdir(ROOT);

const problems = [];
/** Folders that get an index.ts for the first time. */
const newIndexes = [];
const problem = (msg) => problems.push(msg);

// 1. Which edges break the rule, by dependency-cruiser with the repository's config.
async function violatingEdges() {
  const ruleSet = await extractDepcruiseConfig('./.dependency-cruiser.cjs');
  const r = await cruise(ROOTS, { ruleSet, validate: true, outputType: 'json' }, {}, { tsConfig: extractTSConfig('tsconfig.json') });
  const out = typeof r.output === 'string' ? JSON.parse(r.output) : r.output;
  /** @type {Map<string, {from: string, to: string, rules: {name: string, severity: string}[]}>} */
  const byEdge = new Map();
  for (const v of out.summary.violations) {
    if (v.type !== 'dependency') continue;
    const k = `${v.from}\0${v.to}`;
    const e = byEdge.get(k) ?? { from: v.from, to: v.to, rules: [] };
    e.rules.push(v.rule);
    byEdge.set(k, e);
  }
  const edges = [];
  for (const e of byEdge.values()) {
    if (!e.rules.some((r) => r.name === RULE && r.severity !== 'ignore')) continue;
    const others = e.rules.filter((r) => r.name !== RULE);
    if (others.length > 0) {
      problem(`${e.from} → ${e.to}: left as it is, it also breaks ${others.map((r) => r.name).join(', ')} (fix the layering, not the path)`);
      continue;
    }
    edges.push(e);
  }
  return edges;
}

// 2. The TypeScript program, to know whether a name is a value or only a type, and what an index
//    already exports.
function program() {
  const cfg = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!cfg) throw new Error('tsconfig.json does not parse');
  return ts.createProgram(cfg.fileNames, { ...cfg.options, noEmit: true });
}

const abs = (r) => path.join(ROOT, r);

/** The repo-relative .ts file a relative specifier of `fromRel` names, or undefined. */
function resolveSpec(fromRel, spec) {
  if (!spec.startsWith('.')) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromRel), spec));
  for (const c of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`]) {
    if (fs.existsSync(abs(c)) && fs.statSync(abs(c)).isFile()) return c;
  }
  return undefined;
}

function specTo(fromRel, targetRel) {
  let s = path.posix.relative(path.posix.dirname(fromRel), targetRel).replace(/\.ts$/, '.js');
  if (!s.startsWith('.')) s = `./${s}`;
  return s;
}

/**
 * Every place in `sf` that imports a module, with the names it takes: [{ node (the string
 * literal), spec, names: [{ name, type }] | undefined (unhandled form), why }].
 */
function importSites(sf) {
  const sites = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      if (!c) sites.push({ node: node.moduleSpecifier, names: undefined, why: 'a side-effect import' });
      else if (c.name) sites.push({ node: node.moduleSpecifier, names: undefined, why: 'a default import' });
      else if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) sites.push({ node: node.moduleSpecifier, names: undefined, why: 'a namespace import' });
      else {
        const els = c.namedBindings ? c.namedBindings.elements : [];
        sites.push({ node: node.moduleSpecifier, decl: node, names: els.map((e) => ({ name: (e.propertyName ?? e.name).text, type: c.isTypeOnly || e.isTypeOnly })) });
      }
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.exportClause || !ts.isNamedExports(node.exportClause)) sites.push({ node: node.moduleSpecifier, names: undefined, why: 'an "export *"' });
      else
        sites.push({
          node: node.moduleSpecifier,
          names: node.exportClause.elements.map((e) => ({ name: (e.propertyName ?? e.name).text, type: node.isTypeOnly || e.isTypeOnly })),
        });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      let q = node.qualifier;
      while (q && ts.isQualifiedName(q)) q = q.left;
      if (!q) sites.push({ node: node.argument.literal, names: undefined, why: 'import("...") without a name' });
      else sites.push({ node: node.argument.literal, names: [{ name: q.text, type: !node.isTypeOf }] });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return sites;
}

/** The symbol a module exports under `name`, aliases followed. */
function exportedSymbol(checker, sf, name) {
  const mod = sf && checker.getSymbolAtLocation(sf);
  if (!mod) return undefined;
  const s = checker.getExportsOfModule(mod).find((e) => e.name === name);
  if (!s) return undefined;
  return s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
}

async function main() {
  const edges = await violatingEdges();
  if (edges.length === 0) {
    report({ files: 0, added: new Map() });
    return;
  }
  const prog = program();
  const checker = prog.getTypeChecker();
  const sourceOf = (r) => prog.getSourceFile(abs(r));

  // Edges by importing file.
  /** @type {Map<string, Set<string>>} */
  const targetsOf = new Map();
  for (const e of edges) {
    const s = targetsOf.get(e.from) ?? new Set();
    s.add(e.to);
    targetsOf.set(e.from, s);
  }

  // 3. What each folder's index must export: folder → name → { file, symbol, value }.
  /** @type {Map<string, Map<string, {file: string, symbol: ts.Symbol, value: boolean}>>} */
  const needs = new Map();
  /** @type {{ fromRel: string, node: ts.StringLiteral, folder: string, names: {name: string}[] }[]} */
  const rewrites = [];
  const blocked = new Set(); // `${folder}\0${name}` that cannot be exported from the index
  for (const [fromRel, targets] of targetsOf) {
    const sf = sourceOf(fromRel) ?? ts.createSourceFile(fromRel, fs.readFileSync(abs(fromRel), 'utf8'), ts.ScriptTarget.Latest, true);
    for (const site of importSites(sf)) {
      const to = resolveSpec(fromRel, site.node.text);
      if (!to || !targets.has(to)) continue;
      if (!site.names) {
        problem(`${fromRel}: ${site.why} of ${to}; rewrite it by hand to a named import from ${path.posix.dirname(to)}/index.ts`);
        continue;
      }
      const folder = path.posix.dirname(to);
      const toSf = sourceOf(to);
      let ok = true;
      for (const { name, type } of site.names) {
        const symbol = exportedSymbol(checker, toSf, name);
        if (!symbol) {
          problem(`${fromRel}: ${to} exports no "${name}"`);
          ok = false;
          continue;
        }
        const m = needs.get(folder) ?? new Map();
        needs.set(folder, m);
        const had = m.get(name);
        const value = !type || (symbol.flags & ts.SymbolFlags.Value) !== 0;
        if (had && had.symbol !== symbol) {
          problem(`${folder}: two different "${name}" are imported from outside (${had.file}, ${to}); rename one, then run this again`);
          blocked.add(`${folder}\0${name}`);
          ok = false;
          continue;
        }
        // A value import wins over a type import of the same name; the declaring file wins as the source.
        const isValue = (symbol.flags & ts.SymbolFlags.Value) !== 0 && (value || had?.value === true);
        m.set(name, { file: had?.file ?? to, symbol, value: isValue });
      }
      if (ok) rewrites.push({ fromRel, node: site.node, folder, names: site.names });
    }
  }

  // 4. Index additions.
  /** @type {Map<string, string[]>} folder → names added */
  const added = new Map();
  const indexText = new Map();
  for (const [folder, names] of needs) {
    const indexRel = `${folder}/index.ts`;
    const indexSf = sourceOf(indexRel);
    const add = new Map(); // `${file}\0${kind}` → names
    for (const [name, n] of names) {
      if (blocked.has(`${folder}\0${name}`)) continue;
      const existing = indexSf ? exportedSymbol(checker, indexSf, name) : undefined;
      if (existing === n.symbol) continue;
      if (existing) {
        problem(`${indexRel} already exports another "${name}"; the imports of ${n.file}'s "${name}" are left as they are`);
        blocked.add(`${folder}\0${name}`);
        continue;
      }
      const kind = n.value ? 'value' : 'type';
      const k = `${n.file}\0${kind}`;
      add.set(k, [...(add.get(k) ?? []), name]);
      added.set(folder, [...(added.get(folder) ?? []), name]);
    }
    if (add.size === 0) continue;
    if (!indexSf) newIndexes.push(folder);
    indexText.set(indexRel, addExports(indexRel, indexSf, add));
  }

  // 5. Rewrite the importers (an import of a blocked name stays as it was).
  /** @type {Map<string, {start: number, end: number, text: string}[]>} */
  const edits = new Map();
  for (const r of rewrites) {
    if (r.names.some(({ name }) => blocked.has(`${r.folder}\0${name}`))) continue;
    const list = edits.get(r.fromRel) ?? [];
    const quote = r.node.getText().charAt(0);
    list.push({ start: r.node.getStart(), end: r.node.getEnd(), text: `${quote}${specTo(r.fromRel, `${r.folder}/index.ts`)}${quote}` });
    edits.set(r.fromRel, list);
  }
  // Indexes first: merging an importer's declarations resolves them to the (maybe new) index.
  for (const [indexRel, text] of indexText) {
    if (!dryRun) fs.writeFileSync(abs(indexRel), text);
  }
  for (const [fromRel, list] of edits) {
    const before = fs.readFileSync(abs(fromRel), 'utf8');
    const text = mergeImports(fromRel, applyEdits(before, list), (r) => indexText.has(r));
    if (!dryRun) fs.writeFileSync(abs(fromRel), text);
  }
  report({ files: edits.size, added });
}

function applyEdits(text, list) {
  let out = text;
  for (const e of [...list].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

const byName = (a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' }) || a.localeCompare(b);

/** The index's new text: names merged into an `export { } from` of the same file, else appended. */
function addExports(indexRel, indexSf, add) {
  const folder = path.posix.dirname(indexRel);
  let text = indexSf ? indexSf.getFullText() : `/** The public API of ${folder}/: what other folders import from it. */\n`;
  const sf = ts.createSourceFile(indexRel, text, ts.ScriptTarget.Latest, true);
  const edits = [];
  const appended = [];
  for (const [k, names] of add) {
    const [file, kind] = k.split('\0');
    const spec = specTo(indexRel, file);
    const typeOnly = kind === 'type';
    const same = sf.statements.find(
      (s) =>
        ts.isExportDeclaration(s) &&
        s.moduleSpecifier &&
        ts.isStringLiteral(s.moduleSpecifier) &&
        resolveSpec(indexRel, s.moduleSpecifier.text) === file &&
        s.isTypeOnly === typeOnly &&
        s.exportClause &&
        ts.isNamedExports(s.exportClause) &&
        !/\/\/|\/\*/.test(s.exportClause.getText()),
    );
    if (same) {
      const els = same.exportClause.elements.map((e) => e.getText());
      const all = [...els, ...names.sort(byName)];
      const quote = same.moduleSpecifier.getText().charAt(0);
      edits.push({ start: same.getStart(), end: same.getEnd(), text: `export ${typeOnly ? 'type ' : ''}{ ${all.join(', ')} } from ${quote}${spec}${quote};` });
    } else {
      appended.push(`export ${typeOnly ? 'type ' : ''}{ ${names.sort(byName).join(', ')} } from '${spec}';`);
    }
  }
  text = applyEdits(text, edits);
  if (appended.length > 0) {
    if (!text.endsWith('\n')) text += '\n';
    if (!text.includes(MARKER)) text += `${text.trim() === '' ? '' : '\n'}${MARKER}\n`;
    text += `${appended.sort().join('\n')}\n`;
  }
  return text;
}

/**
 * Static named imports of one module in one file become one declaration (the rewrite often leaves
 * two: `from '../shared/index.js'` where there were errors.js and retry.js). Only files the codemod
 * rewrote get here.
 */
function mergeImports(fileRel, text, isNewIndex) {
  const sf = ts.createSourceFile(fileRel, text, ts.ScriptTarget.Latest, true);
  const groups = new Map();
  for (const s of sf.statements) {
    if (!ts.isImportDeclaration(s) || !ts.isStringLiteral(s.moduleSpecifier)) continue;
    const c = s.importClause;
    if (!c || c.name || !c.namedBindings || !ts.isNamedImports(c.namedBindings)) continue;
    const spec = s.moduleSpecifier.text;
    const named = spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(fileRel), spec)).replace(/\.js$/, '.ts') : '';
    const to = isNewIndex(named) ? named : resolveSpec(fileRel, spec);
    if (!to || !to.endsWith('/index.ts')) continue;
    groups.set(to, [...(groups.get(to) ?? []), s]);
  }
  const edits = [];
  for (const decls of groups.values()) {
    if (decls.length < 2) continue;
    // A comment between them would be lost: leave such a group as it is.
    if (decls.slice(1).some((d) => ts.getLeadingCommentRanges(text, d.getFullStart())?.length)) continue;
    if (decls.some((d) => /\/\/|\/\*/.test(d.importClause.namedBindings.getText()))) continue;
    const allType = decls.every((d) => d.importClause.isTypeOnly);
    const seen = new Set();
    const els = [];
    for (const d of decls) {
      for (const e of d.importClause.namedBindings.elements) {
        const bare = `${e.propertyName ? `${e.propertyName.text} as ` : ''}${e.name.text}`;
        const t = allType ? bare : d.importClause.isTypeOnly || e.isTypeOnly ? `type ${bare}` : bare;
        if (seen.has(t)) continue;
        seen.add(t);
        els.push(t);
      }
    }
    const first = decls[0];
    const quote = first.moduleSpecifier.getText().charAt(0);
    edits.push({ start: first.getStart(), end: first.getEnd(), text: `import ${allType ? 'type ' : ''}{ ${els.join(', ')} } from ${quote}${first.moduleSpecifier.text}${quote};` });
    for (const d of decls.slice(1)) {
      // The whole line, when the declaration is alone on it.
      const lineStart = text.lastIndexOf('\n', d.getStart() - 1) + 1;
      const alone = text.slice(lineStart, d.getStart()).trim() === '' && (text[d.getEnd()] === '\n' || d.getEnd() === text.length);
      edits.push(alone ? { start: lineStart, end: Math.min(text.length, d.getEnd() + 1), text: '' } : { start: d.getStart(), end: d.getEnd(), text: '' });
    }
  }
  return applyEdits(text, edits);
}

function report({ files, added }) {
  const verb = dryRun ? 'would rewrite' : 'rewrote';
  console.log(`index-imports: ${verb} imports in ${files} file(s)`);
  for (const [folder, names] of [...added].sort())
    console.log(`  ${folder}/index.ts ${dryRun ? 'would export' : 'exports'} ${names.length} more: ${names.sort(byName).join(', ')}`);
  for (const folder of newIndexes) console.log(`  new: ${folder}/index.ts; name it in ${folder}/README.md`);
  for (const p of problems) console.log(`  left: ${p}`);
  if (problems.some((p) => !p.includes('also breaks'))) process.exitCode = 1;
}

await main();
