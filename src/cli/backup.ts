import { readSecrets, type Topology } from '../config/index.js';
import {
  LOCK_WAIT_MS,
  backupSteps,
  backupWouldRemove,
  describePlan,
  planBackup,
  runBackup,
  runDrill,
  drillReplay,
  formatBytes,
  listEveryBackup,
  verifyBackup,
} from '../failover/index.js';
import { authorizeSshTargets, backupMachine } from '../hosts/index.js';
import { ConfigError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, isJson, progressPrinter, table, type OutputOptions } from './output.js';
import { backupDoneDocument, backupPlanDocument, writeJson } from './plan-json.js';

/**
 * Ctrl-C during a backup or a verification aborts it cleanly (children killed, SQL thread
 * restarted, temp directories removed) instead of leaving the process half-way; a second Ctrl-C
 * exits at once.
 */
export function abortOnSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSignal = (): void => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupting: cleaning up (Ctrl-C again to exit at once)\n');
    ac.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * `hastack backup [--dry-run]`. Under `-o json`: one document, the plan (dry run) or the backup
 * taken (its progress on stderr meanwhile), or the scheduled unit's skip.
 */
export async function backup(o: ConfigOptions & OutputOptions & { to?: string; dryRun?: boolean; onlyOn?: string }): Promise<void> {
  const topo = loadRunningTopology(o);
  const secrets = readSecrets(topo.stateDir);
  const json = isJson(o);
  // On real hosts the backup reads the source's datadir on this machine and copies elsewhere over SSH.
  const machine = topo.config.substrate === 'hosts' ? backupMachine(topo) : undefined;
  if (o.dryRun) {
    const plan = await planBackup(topo, secrets, o.to, new Date(), machine?.nodes);
    if (json) writeJson(backupPlanDocument(plan, backupSteps(plan), backupWouldRemove(plan)));
    else process.stdout.write(`dry run: nothing is changed\n${describePlan(plan).join('\n')}\n`);
    return;
  }
  if (o.onlyOn !== undefined) {
    // The scheduled unit on every database node: the node whose replica is the source now takes
    // the backup; the others say so and exit 0 (the roles moved, nothing is wrong).
    if (!topo.nodes.some((n) => n.name === o.onlyOn)) throw new ConfigError('--only-on', `no node "${o.onlyOn}" in cluster ${topo.cluster}`);
    const plan = await planBackup(topo, secrets, o.to, new Date(), machine?.nodes);
    if (plan.source.svc.node !== o.onlyOn) {
      const message = `scheduled backup: skipped on ${o.onlyOn}, the source now is ${plan.source.svc.id} (${plan.source.role}); its node's timer takes it`;
      appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'backup', step: 'skipped', node: o.onlyOn, source: plan.source.svc.node } });
      if (json) writeJson({ ...backupPlanDocument(plan, [], []), dryRun: false, decision: 'skipped', message });
      else process.stdout.write(`${message}\n`);
      return;
    }
  }
  const { signal, dispose } = abortOnSignal();
  try {
    const text = progressPrinter();
    const log: string[] = [];
    const r = await runBackup({
      topo,
      secrets,
      to: o.to,
      trigger: o.onlyOn !== undefined ? 'schedule' : 'manual',
      signal,
      onEvent: json
        ? (e) => {
            log.push(e.message);
            process.stderr.write(`${e.message}\n`);
          }
        : text,
      lockWaitMs: LOCK_WAIT_MS,
      ...(machine ? { machine } : {}),
    });
    const m = r.manifest;
    if (json) {
      writeJson(backupDoneDocument(r, log));
      return;
    }
    process.stdout.write(
      `\nbackup ${m.id}: ${formatBytes(m.totalBytes)} in ${(r.totalMs / 1000).toFixed(1)} s, gtid ${m.gtid || '-'}, from ${m.source.node} (${m.source.dbRole}), on ${m.target.node}: ${r.dir}\n` +
        `check that it restores: ${invokedAs()} restore --verify ${m.id}\n`,
    );
  } finally {
    dispose();
  }
}

function verifiedCell(v: { ok: boolean; verifiedAt: string } | undefined): string {
  if (!v) return 'no';
  return `${v.ok ? 'ok' : 'BROKEN'} ${v.verifiedAt.slice(0, 19).replace('T', ' ')}`;
}

export async function backupList(o: ConfigOptions & { json?: boolean }): Promise<void> {
  const topo: Topology = loadRunningTopology(o);
  // This machine's disks and every SSH target (asked over SSH; one that does not answer is named).
  const { backups, unreadable, failed } = await listEveryBackup(topo);
  for (const f of failed) process.stderr.write(`WARNING backup target not listed: ${f}\n`);
  if (o.json) {
    const out = {
      backups: backups.map((b) => ({
        id: b.id,
        node: b.node,
        dir: b.dir,
        startedAt: b.manifest.startedAt,
        trigger: b.manifest.trigger,
        source: b.manifest.source.node,
        bytes: b.manifest.totalBytes,
        gtid: b.manifest.gtid,
        encryption: b.manifest.encryption ?? null,
        verification: b.verification ?? null,
      })),
      unreadable,
      targetsNotListed: failed,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    return;
  }
  if (backups.length === 0 && unreadable.length === 0) {
    process.stdout.write(`cluster ${topo.cluster} has no backup; take one with "${invokedAs()} backup"\n`);
    return;
  }
  const rows = [['ID', 'TIME (UTC)', 'ON', 'SOURCE', 'SIZE', 'GTID', 'TRIGGER', 'VERIFIED']];
  for (const b of backups) {
    const m = b.manifest;
    rows.push([
      b.id,
      m.startedAt.slice(0, 19).replace('T', ' '),
      b.node,
      `${m.source.node} (${m.source.dbRole})`,
      `${formatBytes(m.totalBytes)}${m.encryption ? ', encrypted' : ''}`,
      m.gtid || '-',
      m.trigger,
      verifiedCell(b.verification),
    ]);
  }
  for (const u of unreadable) rows.push([u.id, '-', u.node, '-', '-', '-', '-', `UNREADABLE: ${u.reason}`]);
  process.stdout.write(table(rows) + '\n');
}

/** Returns the exit code: 0 when the backup restores and matches, 1 when it is broken. */
export async function restore(ref: string | undefined, o: ConfigOptions & { verify?: boolean }): Promise<number> {
  if (!o.verify) {
    throw new ConfigError(
      '--verify',
      `only "restore --verify" exists so far (it restores into a scratch server and checks). To rebuild a node by hand: stop it, and copy the mariadb/ directory of a verified backup (it is prepared) into its data directory`,
    );
  }
  const topo = loadRunningTopology(o);
  const { signal, dispose } = abortOnSignal();
  try {
    const r = await verifyBackup({ topo, secrets: readSecrets(topo.stateDir), backup: ref, signal, onEvent: progressPrinter(), lockWaitMs: LOCK_WAIT_MS });
    const lines = [`\nbackup ${r.id} (${r.dir})`, ...r.checks.map((c) => `  ok  ${c}`), ...r.problems.map((p) => `  BROKEN  ${p}`)];
    lines.push(
      r.ok
        ? `backup ${r.id} restores and matches its manifest (verified in ${(r.durationMs / 1000).toFixed(1)} s)`
        : `backup ${r.id} is BROKEN: it cannot be trusted for a restore. Take a new one ("${invokedAs()} backup") and verify it.`,
    );
    if (r.code)
      lines.push(`${r.code}: an encrypted file of this backup failed authentication (changed, truncated or moved after it was written); find out who can write to the target`);
    process.stdout.write(lines.join('\n') + '\n');
    return r.ok ? 0 : 1;
  } finally {
    dispose();
  }
}

/** `hastack backup drill`: one restore drill now. Returns the exit code: 0 passed, 1 failed. */
export async function backupDrill(o: ConfigOptions & { json?: boolean }): Promise<number> {
  const topo = loadRunningTopology(o);
  const { signal, dispose } = abortOnSignal();
  try {
    const secrets = readSecrets(topo.stateDir);
    const replay = drillReplay(topo, { password: secrets.dbRootPassword });
    const r = await runDrill({
      topo,
      secrets,
      trigger: 'manual',
      signal,
      onEvent: o.json ? undefined : progressPrinter(),
      lockWaitMs: LOCK_WAIT_MS,
      ...(replay ? { replay } : {}),
    });
    if (o.json) {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    } else {
      const p = r.phases;
      const lines = [
        `\ndrill of backup ${r.backupId} (${r.backupDir})${r.encrypted ? ', encrypted' : ''}`,
        ...r.checks.map((c) => `  ok  ${c}`),
        ...r.problems.map((x) => `  FAILED  ${x}`),
        `replay: ${r.replay}`,
        r.ok
          ? `recovery time ${(r.recoveryMs / 1000).toFixed(1)} s (${p.fetchMs !== undefined ? `fetch ${(p.fetchMs / 1000).toFixed(1)} s, ` : ''}restore ${(p.restoreMs / 1000).toFixed(1)} s, start ${(p.startMs / 1000).toFixed(1)} s, replay ${(p.replayMs / 1000).toFixed(1)} s, checks ${(p.checkMs / 1000).toFixed(1)} s) for ${(r.dataBytes / 1e6).toFixed(1)} MB at ${r.pointInTime}`
          : `drill FAILED${r.code ? ` (${r.code})` : ''}: this backup would not have recovered the cluster; fix what is above and run "${invokedAs()} backup drill" again`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    }
    return r.ok ? 0 : 1;
  } finally {
    dispose();
  }
}

/**
 * `hastack backup authorize [--dry-run]`: the backup key on every SSH target of `backup.targets`,
 * through hastack's gate there (src/hosts/backup-target-auth.ts), over your own SSH; `deploy` does
 * the same on hosts. Returns the exit code: 1 when a target could not be authorised (its warning
 * says what to add by hand).
 */
export async function backupAuthorize(o: ConfigOptions & { dryRun?: boolean }): Promise<number> {
  const topo = loadRunningTopology(o);
  const dryRun = o.dryRun === true;
  const done = await authorizeSshTargets(topo, {
    dryRun,
    say: (message, data) => {
      if (!dryRun) appendEvent(topo.stateDir, { type: 'step', message, data: { op: 'backup-authorize', ...data } });
      (data?.['warning'] ? process.stderr : process.stdout).write(`${data?.['warning'] ? 'WARNING ' : ''}${message}\n`);
    },
  });
  if (done.length === 0) process.stdout.write(`cluster ${topo.cluster} has no SSH target in backup.targets: nothing to authorise\n`);
  else if (dryRun) process.stdout.write('dry run: nothing was changed\n');
  return done.some((a) => a.outcome === 'failed') ? 1 : 0;
}
