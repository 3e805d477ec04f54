/**
 * A benchmark's counts: its defaults, each one overridable on the command line as `--name N`
 * (`npm run bench -- cache --rounds 2 --keys 300` for a quick check). Only positive numbers are
 * taken; anything else keeps the default, so a typo never makes a loop unbounded.
 */
export function benchCounts<T extends Record<string, number>>(defaults: T, argv: readonly string[] = process.argv): T {
  const out: Record<string, number> = { ...defaults };
  for (const name of Object.keys(defaults)) {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(argv[i + 1]) : Number.NaN;
    if (Number.isFinite(v) && v > 0) out[name] = v;
  }
  return out as T;
}
