/**
 * A short line diff for `deploy --diff` (`-` old, `+` new), with secret values masked. Pure.
 * LCS over lines: config files are small (a unit file is ~25 lines, topology.json a few hundred).
 */
const MAX_LINES = 2_000;

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret containing another is masked whole.
  for (const s of [...secrets].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out;
}

export function lineDiff(before: string, after: string, maxOut = 20): string {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_LINES || b.length > MAX_LINES) return `(${a.length} → ${b.length} lines; too long to diff here)`;
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..]
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    const row = lcs[i] as number[];
    const next = lcs[i + 1] as number[];
    for (let j = b.length - 1; j >= 0; j--) row[j] = a[i] === b[j] ? (next[j + 1] ?? 0) + 1 : Math.max(next[j] ?? 0, row[j + 1] ?? 0);
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let changes = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      changes++;
      if (out.length < maxOut) out.push(`- ${a[i]}`);
      i++;
    } else {
      changes++;
      if (out.length < maxOut) out.push(`+ ${b[j]}`);
      j++;
    }
  }
  if (changes > out.length) out.push(`… ${changes - out.length} more changed line(s)`);
  return out.join('\n');
}

/** secrets.json: which keys differ, never a value. */
export function secretsDiff(before: Record<string, string>, after: Record<string, string>): string {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((k) => before[k] !== after[k])
    .map((k) => (before[k] === undefined ? `+ ${k}` : after[k] === undefined ? `- ${k}` : `~ ${k} (value changed)`))
    .join('\n');
}
