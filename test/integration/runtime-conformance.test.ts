/**
 * The runtime conformance suite (test/helpers/runtime-conformance.ts) on the supervised runtime:
 * the `local` substrate always, `netns` as root. Addresses 127.0.213.x (the admin API on .254),
 * 10.213.213.x (netns); clusters `rtlocal`, `rtnetns`.
 */
import fs from 'node:fs';
import { parseConfig, resolveTopology } from '../../src/config/index.js';
import { runtimeFor } from '../../src/runtime/index.js';
import { NetnsSubstrate } from '../../src/substrate/index.js';
import { REPO_ROOT, tempDir } from '../helpers/cli.js';
import { conformance, baseConfig, type Bed } from '../helpers/runtime-conformance.js';

const NETNS_BASE = '10.213.213';

/** The supervised runtime: topology from the config, state in a temp dir, started by its own `up`. */
function supervisedBed(substrate: 'local' | 'netns'): () => Promise<Bed> {
  return async () => {
    const dir = tempDir(`rt-${substrate}`);
    const topo = resolveTopology(parseConfig({ ...baseConfig(`rt${substrate}`, '127.0.213', NETNS_BASE), substrate }), { stateRoot: dir, configDir: REPO_ROOT });
    const runtime = await runtimeFor(topo);
    return {
      topo,
      runtime,
      bringUp: () => runtime.up(),
      leftovers: async () => (substrate === 'netns' ? new NetnsSubstrate(topo).leftovers() : []),
      async teardown() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

const asRoot = process.getuid?.() === 0;
conformance('supervised on local', false, supervisedBed('local'));
conformance('supervised on netns', asRoot ? false : 'needs root (network namespaces)', supervisedBed('netns'));
