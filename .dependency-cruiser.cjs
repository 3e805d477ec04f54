// @ts-check
/*
 * Which code may import which: the layering of STYLE.md and issue 18 as a lint rule
 * (`npm run lint` runs `depcruise`; madge --circular still runs beside it for file cycles).
 *
 * Rules, by the name a failure prints:
 * - layer-order          a folder of src/ imports only its own layer and the layers below it.
 * - layer-unplaced       a folder of src/ that is in no layer (add it to LAYERS below).
 * - enter-through-index  from outside a folder of src/, only its index.ts is imported; a nested
 *                        folder (control/dashboard) is outside its parent's files but may use them.
 *                        Two exceptions, both for start-up time:
 *                        - a dynamic `await import('../hosts/keeper.js')` may name one file: a
 *                          command loads only what it runs (importing hosts/keeper.js took 0.1 s,
 *                          hosts/ through an index 1.1-1.4 s, on this 2-core machine under load);
 *                          layer-order still applies to it.
 *                        - shared/ (and types/) have no index: each file is an independent tool
 *                          and all are public; an index would make every importer of ErrorCode
 *                          load pino (shared/errors.js 30 ms, a shared/index.js 160 ms).
 * - not-to-test          bench/, kit/, examples/, dashboard/ and production code never import test/.
 * - examples-public-api  the example app imports only `src/app/index.ts` (the package's
 *                        `hastack/app` export), as an app outside this repository would.
 * - dashboard-types-only the browser bundle takes only types from src/ (a value import would pull
 *                        Node code into it).
 * - no-folder-cycle      two folders of src/ that import each other, even without a file cycle.
 *
 * `scripts/codemods/index-imports.mjs` rewrites enter-through-index violations; see its header.
 */
const fs = require('node:fs');
const path = require('node:path');

/**
 * Top to bottom. A layer may import its own folders (peers) and every layer below it, never one
 * above. `control` includes its nested `control/dashboard` (the admin API serves it).
 */
const LAYERS = [
  // The command line: the only place that may see every other folder.
  { name: 'cli', folders: ['cli'] },
  // Where the cluster runs, chosen once from the config (issue 18), and deploy to hosts over SSH.
  { name: 'runtime/deploy', folders: ['runtime', 'deploy'] },
  { name: 'chaos/hosts', folders: ['chaos', 'hosts'] },
  // Security checks of a running cluster: read the local run state (control); the host agent
  // runs them on each host, so hosts imports audit and not the other way.
  { name: 'audit', folders: ['audit'] },
  { name: 'control', folders: ['control'] },
  { name: 'failover', folders: ['failover'] },
  // The tiers: each is one kind of server process (worker runs the app's jobs, so it imports app);
  // `drivers` starts and probes every kind (engines' and ours), so it sits beside them.
  // `endpoints`: the local db/redis endpoints (HAProxy driven by a follower of the writer/master).
  { name: 'tiers', folders: ['app', 'worker', 'lb', 'dns', 'drivers', 'endpoints'] },
  // Engine drivers and admin operations; the HA-aware clients.
  { name: 'engines/clients', folders: ['engines', 'clients'] },
  // Where supervised processes live (loopback addresses or network namespaces): it needs only the
  // process contract of the registry; control, chaos and the hosts' keeper use it.
  { name: 'substrate', folders: ['substrate'] },
  // Service kinds and the service contract (issue 18): below every runner.
  { name: 'registry', folders: ['registry'] },
  { name: 'config', folders: ['config'] },
  // Errors, events, files, logs, retry; `types` holds only ambient declarations (.d.ts).
  { name: 'shared', folders: ['shared', 'types'] },
];

/** Code outside src/ that imports src/ and that src/ never imports. */
const CONSUMERS = ['test', 'bench', 'kit', 'examples', 'dashboard'];

/**
 * Known layer violations that other work of issue 18 removes, by exact edge. This list only
 * shrinks: when an edge is gone, delete its entry (a stale entry matches nothing and hides nothing).
 * An entry excuses its edge from layer-order and enter-through-index unless it names its rules:
 * an upward import is to be removed, not re-routed through an index.
 */
const PENDING = [];

/**
 * Folder cycles cannot be listed edge by edge (dependency-cruiser does not soften folder-level
 * violations), so the folders on the pending control ↔ hosts and failover ↔ control loops are left
 * out of no-folder-cycle until those edges are gone. Any new loop between two layers still fails
 * layer-order; this rule matters for peers within one layer.
 */
const PENDING_FOLDER_CYCLES = [];

const alt = (names) => `(${names.join('|')})`;
const allLayerFolders = LAYERS.flatMap((l) => l.folders);

// One name for every layer's rule: a failure prints it with this comment (looked up by name).
const ORDER = LAYERS.map((l) => l.folders.join(',')).join(' > ');
const layerRules = LAYERS.map((layer, i) => {
  const above = LAYERS.slice(0, i).flatMap((l) => l.folders);
  return {
    name: 'layer-order',
    severity: 'error',
    comment:
      `a folder of src/ imports only its own layer and the layers below it (${ORDER}), ` +
      `and never ${CONSUMERS.join(', ')}. Move the shared code down, or pass it in from above (.dependency-cruiser.cjs).`,
    from: { path: `^src/${alt(layer.folders)}/` },
    to: { path: [...(above.length ? [`^src/${alt(above)}/`] : []), `^${alt(CONSUMERS)}/`] },
  };
});

/** Every folder under src/ that holds a .ts file, as a path relative to this file. */
function sourceFolders(dir) {
  const entries = fs.readdirSync(path.join(__dirname, dir), { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name.endsWith('.ts')) ? [dir] : [];
  return [...here, ...entries.filter((e) => e.isDirectory()).flatMap((e) => sourceFolders(`${dir}/${e.name}`))];
}

/** Folders entered file by file (see enter-through-index above). */
const INDEX_EXEMPT = ['src/shared', 'src/types'];

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const indexRules = sourceFolders('src')
  .filter((d) => d !== 'src' && !INDEX_EXEMPT.includes(d))
  .map((d) => ({
    name: 'enter-through-index',
    severity: 'error',
    comment:
      'from outside a folder of src/, import only its index.ts (shared/ and types/ excepted; a dynamic import may name one file): ' +
      'export there what other folders need, by name, no "export *". scripts/codemods/index-imports.mjs does both.',
    from: { pathNot: `^${escapeRe(d)}/` },
    to: { path: `^${escapeRe(d)}/[^/]+$`, pathNot: `^${escapeRe(d)}/index\\.ts$`, dependencyTypesNot: ['dynamic-import'] },
  }));

/** @type {import('dependency-cruiser').IConfiguration} */
const config = {
  forbidden: [
    ...layerRules,
    {
      name: 'layer-unplaced',
      severity: 'error',
      comment: 'every folder of src/ belongs to one layer: add it to LAYERS in .dependency-cruiser.cjs.',
      from: { path: '^src/', pathNot: `^src/${alt(allLayerFolders)}/` },
      to: {},
    },
    ...indexRules,
    {
      name: 'not-to-test',
      severity: 'error',
      comment: 'test/ is only for tests: production code, bench/, kit/ and examples/ never import it. Shared harness code lives in kit/ (the test kit, which bench/ uses too).',
      from: { path: '^(src|bench|kit|examples|dashboard)/' },
      to: { path: '^test/' },
    },
    {
      name: 'examples-public-api',
      severity: 'error',
      comment: 'the example app uses hastack as a package: only src/app/index.ts (exported as "hastack/app").',
      from: { path: '^examples/' },
      to: { path: '^src/', pathNot: '^src/app/index\\.ts$' },
    },
    {
      name: 'dashboard-types-only',
      severity: 'error',
      comment: 'dashboard/src is bundled for the browser: from src/ it takes types only ("import type").',
      from: { path: '^dashboard/' },
      to: { path: '^src/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'two folders import each other (a folder-level loop madge --circular cannot see).',
      scope: 'folder',
      from: { path: '^src/', pathNot: `^src/${alt(PENDING_FOLDER_CYCLES)}(/|$)` },
      to: { circular: true },
    },
  ],
  options: {
    // Type-only imports count: a type from a higher layer couples the code just the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|\\.hastack|dashboard/dist)/' },
    knownViolations: PENDING.flatMap((p) =>
      (p.rules ?? ['layer-order', 'enter-through-index']).map((rule) => ({
        type: 'dependency',
        from: p.from,
        to: p.to,
        rule: { name: rule, severity: 'error' },
        comment: p.why,
      })),
    ),
  },
};

module.exports = config;
