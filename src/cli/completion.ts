import type { Command } from 'commander';

/*
 * `hastack completion bash|zsh`: a completion script made from the command tree itself (the
 * visible commands and their options), so a new command completes without editing a list. zsh
 * runs the bash one through bashcompinit.
 */

/** Every visible command path (`config validate`) with the words that may follow it. */
export function completionTable(program: Command): Array<{ path: string; words: string[] }> {
  const help = program.createHelp();
  const out: Array<{ path: string; words: string[] }> = [];
  const walk = (cmd: Command, path: string): void => {
    const subs = help.visibleCommands(cmd).filter((c) => c.name() !== 'help');
    const options = help.visibleOptions(cmd).flatMap((o) => [o.short, o.long].filter((x): x is string => x !== undefined));
    out.push({ path, words: [...subs.map((c) => c.name()), ...options] });
    for (const c of subs) walk(c, path === '' ? c.name() : `${path} ${c.name()}`);
  };
  walk(program, '');
  // Longest paths first: `case` takes the first pattern that matches.
  return out.sort((a, b) => b.path.length - a.path.length);
}

export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const name = program.name().replace(/^\.\//, '');
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_complete`;
  const cases = completionTable(program)
    .map((r) => `    ${r.path === '' ? '""' : `"${r.path}"|"${r.path} "*`}) words="${r.words.join(' ')}" ;;`)
    .join('\n');
  const bash = `# ${name} completion (bash): eval "$(${name} completion bash)", or save it in /etc/bash_completion.d/${name}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w words=""
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$w" in -*) ;; *) path="\${path:+$path }$w" ;; esac
  done
  case "$path" in
${cases}
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
}
complete -o default -F ${fn} ${name}
`;
  return shell === 'bash' ? bash : `# ${name} completion (zsh): eval "$(${name} completion zsh)" in ~/.zshrc\nautoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
