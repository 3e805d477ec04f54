import { MANIFEST_FILE } from './backup-manifest.js';
import { VERIFY_FILE } from './backup-store.js';
import { tailPrefix } from './binlog-archive-seal.js';

/*
 * The far side of an SSH backup target (a plain machine: sshd and rsync, no hastack): the gate the
 * backup key is forced through. `authorized_keys` there holds the cluster's backup key only as
 *   restrict,from="<the machines that send and restore>",command="<home>/.hastack-backup-gate-<cluster> <dir>/<cluster>" ssh-ed25519 ...
 * (written by `hastack deploy` on hosts, `hastack backup authorize` elsewhere: src/hosts/backup-target-auth.ts).
 * Whatever the key asks for, sshd runs this script, which reads the request from
 * SSH_ORIGINAL_COMMAND and lets through only what delivery, listing, fetching, retention and the
 * binlog archive's shipping send (backup-ssh-store.ts, binlog-archive-ssh.ts, restore-fetch.ts):
 *   rsync --server [--sender] FLAGS . PATH   rsync's far side, one PATH under the root; flags from
 *                                            the fixed set those callers use; never -s (the real
 *                                            arguments would come over the socket, past this check)
 *                                            nor L/k/K (following symbolic links out of the root);
 *                                            a receiver takes no owner, group, mode or device of
 *                                            the sender's (-rlt, not -a), gets --munge-links (no
 *                                            symlink it writes works) and its directory made first
 *   begin ROOT ID        tools there, the root made, stale `.incoming-*` removed, ID not taken
 *   sums DIR             sha256sum of the files named on stdin (relative to DIR)
 *   finish ROOT ID       `.incoming-ID` renamed to ID (never over an existing one)
 *   list ROOT            every `ID/manifest.json` (and its verify.json), between markers
 *   put FILE             stdin into FILE (a temporary name beside it, then a rename)
 *   remove PATH...       rm -rf, never the root itself
 *   drop-tails DIR NAME  rm -f DIR/NAME.tail-* (the archive's chunks of a finished file)
 *   mkdir DIR            mkdir -p
 * Every path must be absolute, the root or below it, without `.` or `..` components and without a
 * symbolic link on the way; every word of the request plain (`[A-Za-z0-9_@%+=:,./-]`: no quote, no
 * glob, no `;`). Anything else is refused with a message on stderr and exit status 77.
 *
 * Why a wrapper of our own and not Debian's rrsync: rrsync needs python3 (a plain target may have
 * none), rewrites every path as relative to its directory (our callers name absolute ones), and
 * covers rsync alone, while delivery also needs sha256sum, a rename, a listing and retention. One
 * POSIX sh script, short enough to review, keeps the rsync rules and the other verbs in one place.
 * It runs with any /bin/sh (dash, bash, busybox): tested by backup-ssh-gate.test.ts with crafted requests.
 */

/** The gate's exit status for a refused request (sysexits' EX_NOPERM). */
export const GATE_REFUSED_EXIT = 77;
/** The listing's markers (`list`), parsed by backup-ssh-store.ts. */
export const LIST_MARK = '@@hastack-backup ';
export const LIST_VERIFY_MARK = '@@hastack-verify';
/** An `.incoming-<id>` this much older belongs to no running copy (rsync's own bound is 30 min). */
export const STALE_INCOMING_MIN = 35;
/** Plain words only: what a request's words, the root and the gate's path may hold. */
export const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** The gate's file name in the target user's home (one per cluster: each confines its own key to its own root). */
export function gateFileName(cluster: string): string {
  return `.hastack-backup-gate-${cluster}`;
}

/** The comment of a cluster's backup key (`ssh-keygen -C`): how a previous line for this cluster is found. */
export function backupKeyComment(cluster: string): string {
  return `hastack-${cluster}-backup`;
}

/** The gate script for `cluster` (see the header). Pure. */
export function gateScript(cluster: string): string {
  return `#!/bin/sh
# hastack backup gate for cluster ${cluster}: written by "hastack deploy" / "hastack backup authorize",
# which replace it; edits here are lost. authorized_keys runs it for the cluster's backup key:
#   command="<this file> <root>": every request is checked here; see src/failover/backup-ssh-gate.ts.
# A wrapper, not rrsync: a plain machine may lack python3, and delivery needs more than rsync
# (sha256sum, rename, listing, retention); the rules for all of it stay in this one script.
set -u
umask 077
# No pathname expansion, except in the two verbs that glob on purpose (list, drop-tails).
set -f
PATH=/usr/local/bin:/usr/bin:/bin
export PATH
ROOT=\${1-}

refuse() {
  printf '%s\\n' "hastack backup gate (${cluster}): refused: $1. This key may only run rsync into or out of \${ROOT:-its directory} and the verbs begin, sums, finish, list, put, remove, drop-tails, mkdir; if the machine sending this is running a newer hastack, run \\"hastack deploy\\" (hosts) or \\"hastack backup authorize\\" again" >&2
  client=\${SSH_CLIENT:-local}
  logger -p auth.warning -t hastack-backup-gate "cluster ${cluster}: refused from \${client%% *}: $1" >/dev/null 2>&1
  exit ${GATE_REFUSED_EXIT}
}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "$1 is not installed on this machine: apt-get install $1" >&2; exit 4; }
}

# The path ($1) is absolute, the root or below it, with no "." or ".." component and no symbolic link on the way.
inside() {
  case $1 in "$ROOT" | "$ROOT"/*) ;; *) return 1 ;; esac
  rest=\${1#"$ROOT"}
  case $rest in *//*) return 1 ;; esac
  case "$rest/" in */./* | */../*) return 1 ;; esac
  [ -L "$ROOT" ] && return 1
  cur=$ROOT
  IFS=/
  for c in $rest; do
    [ -n "$c" ] || continue
    cur=$cur/$c
    [ -L "$cur" ] && { IFS=' '; return 1; }
  done
  IFS=' '
  return 0
}

# Inside the root and not the root itself.
below() {
  inside "$1" && [ "\${1%/}" != "$ROOT" ]
}

is_id() {
  case $1 in [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z) return 0 ;; esac
  return 1
}

case $ROOT in
  /[!/]*) ;;
  *) refuse "no root directory in authorized_keys (command=\\"<gate> <root>\\")" ;;
esac
case $ROOT in *[!-A-Za-z0-9_@%+=:,./]* | */ | */./* | */../* | */. | */.. | *//*) refuse "the root $ROOT is not a plain absolute path" ;; esac
# The key could rewrite its own gate and authorized_keys if the user's home were under its root.
case \${HOME:-/} in "$ROOT" | "$ROOT"/*) refuse "the home directory \${HOME:-} is under the root $ROOT (the key could rewrite its own gate): give the target a dir outside the user's home" ;; esac

cmd=\${SSH_ORIGINAL_COMMAND-}
[ -n "$cmd" ] || refuse 'no command (an interactive shell)'
case $cmd in *[!-A-Za-z0-9_@%+=:,./\\ ]*) refuse "a character outside [A-Za-z0-9_@%+=:,./-] in the request (no shell here)" ;; esac
IFS=' '
# shellcheck disable=SC2086 # split on blanks on purpose: every word is plain, and globbing is off
set -- $cmd
verb=\${1-}
[ $# -gt 0 ] && shift

case $verb in
  rsync)
    [ "\${1-}" = --server ] || refuse 'rsync without --server'
    shift
    args=--server
    sender=
    letters=
    while [ $# -gt 0 ] && [ "$1" != . ]; do
      case $1 in
        --sender) sender=1 ;;
        --timeout=*) case \${1#--timeout=} in '' | *[!0-9]*) refuse "the rsync option $1" ;; esac ;;
        --delete | --partial-dir=.rsync-partial) ;;
        --partial-dir)
          [ "\${2-}" = .rsync-partial ] || refuse 'an rsync --partial-dir other than .rsync-partial'
          args="$args $1"
          shift
          ;;
        -[!-]*)
          flags=\${1#-}
          these=\${flags%%e.*}
          caps=\${flags#"$these"}
          case $these in '' | *[!A-Za-z]*) refuse "the rsync option $1" ;; esac
          case $these in *[sLkKe]*) refuse "the rsync flags -$these (s would pass arguments past this check; L, k, K follow symbolic links)" ;; esac
          case $caps in '' | e.) ;; e.*[!A-Za-z]*) refuse "the rsync option $1" ;; e.*) ;; *) refuse "the rsync option $1" ;; esac
          letters=$letters$these
          ;;
        *) refuse "the rsync option $1" ;;
      esac
      args="$args $1"
      shift
    done
    [ "\${1-}" = . ] || refuse "an rsync request without its '.' argument"
    shift
    [ $# -eq 1 ] || refuse "an rsync request naming $# paths (one only)"
    inside "$1" || refuse "the path $1 (only $ROOT and below, without . or .. or a symbolic link)"
    if [ -z "$sender" ]; then
      # What arrives is plain data of this user's: no owner, group, mode, ACL or xattr of the
      # sender's, no device (-rlt, not -a: new files 0600 and directories 0700 by the umask, no
      # setuid file, nothing another local user can read), and no symlink it writes works (munged).
      case $letters in *[ogpDAX]*) refuse "the rsync flags -$letters for a receiver (o, g, p, D, A, X: the sender's owners, modes or devices; send with -rlt)" ;; esac
      # The receiving directory first (the archive's segments appear as it grows).
      case $1 in */) mkdir -p -- "$1" || exit 1 ;; esac
      args="$args --munge-links"
    fi
    need rsync
    # shellcheck disable=SC2086 # the checked words, split on blanks
    exec rsync $args . "$1"
    ;;
  begin)
    [ $# -eq 2 ] && [ "$1" = "$ROOT" ] && is_id "$2" || refuse "begin takes the root ($ROOT) and a backup id"
    need rsync
    need sha256sum
    mkdir -p -- "$ROOT" && cd -- "$ROOT" || exit 1
    [ -L "$ROOT" ] && refuse "the root $ROOT is a symbolic link"
    find . -maxdepth 1 -name '.incoming-*' ! -name ".incoming-$2" -mmin +${STALE_INCOMING_MIN} -exec rm -rf {} +
    if [ -e "$2" ]; then echo "backup $2 already exists there; wait a second and run again" >&2; exit 3; fi
    ;;
  sums)
    [ $# -eq 1 ] && inside "$1" || refuse 'sums takes one directory under the root'
    cd -- "$1" || exit 1
    # A last line without its newline counts too.
    while IFS= read -r f || [ -n "$f" ]; do
      [ -n "$f" ] || continue
      case "/$f/" in //* | */./* | */../*) refuse "the file name $f (relative, without . or ..)" ;; esac
      inside "$1/$f" || refuse "the file $f (a symbolic link on the way)"
      sha256sum -- "$f" 2>/dev/null
    done
    exit 0
    ;;
  finish)
    [ $# -eq 2 ] && [ "$1" = "$ROOT" ] && is_id "$2" || refuse "finish takes the root ($ROOT) and a backup id"
    cd -- "$ROOT" || exit 1
    [ -d ".incoming-$2" ] && [ ! -L ".incoming-$2" ] || { echo "no copy .incoming-$2 to put in place" >&2; exit 1; }
    rm -rf -- ".incoming-$2/.rsync-partial"
    if [ -e "$2" ]; then echo "backup $2 already exists there" >&2; exit 3; fi
    mv -- ".incoming-$2" "$2"
    ;;
  list)
    [ $# -eq 1 ] && [ "$1" = "$ROOT" ] || refuse "list takes the root ($ROOT)"
    cd -- "$ROOT" 2>/dev/null || exit 0
    set +f
    for d in */; do
      d=\${d%/}
      [ -L "$d" ] && continue
      [ -f "$d/${MANIFEST_FILE}" ] && [ ! -L "$d/${MANIFEST_FILE}" ] || continue
      printf '\\n%s%s\\n' '${LIST_MARK}' "$d"
      cat -- "$d/${MANIFEST_FILE}"
      printf '\\n%s\\n' '${LIST_VERIFY_MARK}'
      if [ -f "$d/${VERIFY_FILE}" ] && [ ! -L "$d/${VERIFY_FILE}" ]; then cat -- "$d/${VERIFY_FILE}"; fi
    done
    exit 0
    ;;
  put)
    [ $# -eq 1 ] && below "$1" || refuse 'put takes one file under the root'
    dir=\${1%/*}
    base=\${1##*/}
    [ -n "$base" ] && [ -d "$dir" ] && [ ! -d "$1" ] || { echo "put: $1 is a directory, or $dir does not exist" >&2; exit 1; }
    tmp="$dir/.$base.tmp.$$"
    set -C
    cat > "$tmp" || { rm -f -- "$tmp"; exit 1; }
    set +C
    mv -f -- "$tmp" "$1"
    ;;
  remove)
    [ $# -ge 1 ] || refuse 'remove takes paths under the root'
    for p in "$@"; do below "$p" || refuse "removing $p (only below $ROOT, without . or .. or a symbolic link)"; done
    rm -rf -- "$@"
    ;;
  drop-tails)
    [ $# -eq 2 ] && inside "$1" || refuse 'drop-tails takes a directory under the root and a file name'
    case $2 in '' | */* | .*) refuse "the file name $2" ;; esac
    cd -- "$1" 2>/dev/null || exit 0
    set +f
    rm -f -- "$2"'${tailPrefix('')}'*
    ;;
  mkdir)
    [ $# -eq 1 ] && inside "$1" || refuse 'mkdir takes one directory under the root'
    mkdir -p -- "$1"
    ;;
  *) refuse "the request $(printf '%.120s' "$cmd")" ;;
esac
`;
}
