/**
 * What every SSH caller shares, below the layers that speak SSH (src/hosts for the hosts'
 * transport, src/failover for backup targets on a plain machine): quoting for the remote shell
 * and reading ssh's own failure out of its stderr. Pure; tested in src/hosts/ssh-args.test.ts.
 */

/** Quotes one argument for a POSIX shell: the remote side of ssh always runs one. */
export function shq(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export type SshFailure = 'unreachable' | 'key-unknown' | 'key-changed' | 'auth';

/**
 * What went wrong, from ssh's stderr after it exited 255; undefined when ssh printed none of its
 * own failures (then the 255 was the remote command's own exit status). Order matters: a changed
 * key also prints "Host key verification failed".
 */
export function classifySshFailure(stderr: string): SshFailure | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) return 'key-changed';
  if (/Host key verification failed|No \S+ host key is known for/i.test(stderr)) return 'key-unknown';
  if (/Permission denied \(|Too many authentication failures|no mutual signature algorithm/i.test(stderr)) return 'auth';
  if (
    /ssh: connect to host|Connection (refused|timed out|reset|closed by)|No route to host|Network is unreachable|Could not resolve hostname|kex_exchange_identification|Timeout, server .* not responding|closed by remote host|Broken pipe|Connection to .* closed/i.test(
      stderr,
    )
  ) {
    return 'unreachable';
  }
  return undefined;
}
