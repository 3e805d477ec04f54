import { shq } from './ssh-args.js';

/**
 * What every key hastack authorises shares (the controller key, the backup key on node targets and
 * on SSH targets): a shell script, run as the SSH user there, that makes `line` the only line of
 * `~/.ssh/authorized_keys` holding the key's body (type and base64), and, given `comment`, the only
 * line ending in that comment (an older key of the same cluster, replaced by a new one). The file
 * is rewritten beside and renamed (mode 0600 by the umask): never half-written, and a line of
 * another key is kept as it was. Idempotent; prints `present`, `added` or `replaced` (with
 * `dryRun`, what it would do, and changes nothing).
 */
export type AuthorizedKeysOutcome = 'present' | 'added' | 'replaced';

export function authorizedKeysScript(line: string, o: { readonly body: string; readonly comment?: string; readonly dryRun?: boolean }): string {
  // The lines that are this key's: the body anywhere, or the comment at the end. One grep with
  // both patterns, so a line holding both counts once and a duplicated line twice (rewritten).
  const patterns = [bre(o.body), ...(o.comment ? [`${bre(` ${o.comment}`)}$`] : [])].map((x) => `-e ${shq(x)}`).join(' ');
  return [
    'umask 077; k="$HOME/.ssh/authorized_keys"',
    o.dryRun ? '[ -f "$k" ] || k=/dev/null' : 'mkdir -p "$HOME/.ssh"; touch "$k"',
    `n=$(grep -c ${patterns} "$k")`,
    `if grep -qxF ${shq(line)} "$k" && [ "$n" -eq 1 ]; then echo present; exit 0; fi`,
    'if [ "$n" -gt 0 ]; then what=replaced; else what=added; fi',
    o.dryRun ? 'echo "$what"; exit 0' : `{ grep -v ${patterns} "$k"; echo ${shq(line)}; } > "$k.hastack-tmp" && mv -f "$k.hastack-tmp" "$k" && echo "$what"`,
  ].join('\n');
}

/** `s` as a basic regular expression matching itself. Pure. */
function bre(s: string): string {
  return s.replace(/[.[\]*^$\\]/g, '\\$&');
}

/** The script's answer. */
export function authorizedKeysOutcome(out: string): AuthorizedKeysOutcome {
  const w = out.trim().split('\n').at(-1);
  return w === 'present' || w === 'replaced' ? w : 'added';
}

/** The key's body (type and base64): what an older line of the same key also holds, whatever its options. */
export function keyBody(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
}
