import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { eventsFile } from '../shared/events.js';

/*
 * The event log belongs to one cluster instance: an `up` of a differently shaped cluster under the
 * same name (another preset, other nodes or services, another database mode) starts a new
 * events.jsonl, and the old log is kept beside it as events.<time>.jsonl. Otherwise the
 * dashboard's timeline and `hastack events` would mix an earlier cluster's events into this one's.
 */

/** What makes two runs the same cluster: its preset, nodes and their services, and the database mode. */
export function clusterShape(topo: Topology): string {
  return JSON.stringify({ preset: topo.config.preset, mode: topo.config.database.mode, nodes: topo.nodes.map((n) => [n.name, [...n.services].sort()]) });
}

/** Moves the old log aside when the recorded cluster has another shape; returns where it went. */
export function startNewEventLogIfReshaped(before: Topology | undefined, after: Topology): string | undefined {
  if (before === undefined || clusterShape(before) === clusterShape(after)) return undefined;
  const current = eventsFile(after.stateDir);
  if (!fs.existsSync(current)) return undefined;
  // The stamp of the move, to the second, without characters a file name should avoid.
  const stamp = new Date()
    .toISOString()
    .replace(/[:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const kept = path.join(after.stateDir, `events.${stamp}.jsonl`);
  fs.renameSync(current, kept);
  const rotated = `${current}.1`;
  if (fs.existsSync(rotated)) fs.renameSync(rotated, `${kept}.1`);
  return kept;
}
