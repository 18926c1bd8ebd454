/**
 * Which archived WAL prune may delete (docs/wal-archiving.md, "Retention").
 *
 * Recovery from a base backup reads WAL from the segment that holds its start LSN on, on its timeline
 * and the timelines that descend from it. So a WAL file that every kept base starts after, on a
 * timeline no newer than theirs, is needed by none of them: it may go. Everything else stays:
 * `.history` files (a few bytes, and recovery follows timelines with them), anything at or after the
 * oldest kept start, anything of a cluster no kept base belongs to, and any key that does not parse
 * strictly as a WAL key of ours. Names are compared, not contents: the pruner reads no WAL.
 */
import type { CompleteRecord, WalStart } from "../repository/complete.js";
import { parseWalKey } from "./names.js";

/** The oldest point a cluster's kept bases need: the lowest timeline and the lowest start segment among them. */
export interface WalKeepPoint {
  systemId: string;
  timeline: number;
  /** The 24-hex name of the oldest start segment (the timeline part is `timeline`'s lowest among the bases). */
  startWal: string;
  /** The kept base that starts oldest, to name in the output. */
  base: string;
}

export interface WalKeepPlan {
  points: Map<string, WalKeepPoint>;
  /** Kept postgres-cluster bases whose complete.json records no WAL start (written by an older strongbox). */
  unknown: string[];
}

/** The keep points of the kept bases: per cluster, the minimum over every kept base (a forged late start cannot raise it). */
export function walKeepPlan(kept: { id: string; complete: CompleteRecord }[]): WalKeepPlan {
  const points = new Map<string, WalKeepPoint>();
  const unknown: string[] = [];
  for (const { id, complete } of kept)
    for (const s of complete.sources) {
      if (s.type !== "postgres-cluster") continue;
      if (!s.wal) {
        unknown.push(id);
        continue;
      }
      points.set(s.wal.system_identifier, lower(points.get(s.wal.system_identifier), s.wal, id));
    }
  return { points, unknown: [...new Set(unknown)] };
}

/** The segment number part of a segment name (16 hex digits): in name order, which is segment order. */
const segPart = (segment: string) => segment.slice(8);

function lower(p: WalKeepPoint | undefined, w: WalStart, id: string): WalKeepPoint {
  if (!p) return { systemId: w.system_identifier, timeline: w.timeline, startWal: w.start_wal, base: id };
  const older = segPart(w.start_wal) < segPart(p.startWal);
  return {
    systemId: p.systemId,
    timeline: Math.min(p.timeline, w.timeline),
    startWal: older ? w.start_wal : p.startWal,
    base: older ? id : p.base,
  };
}

export type WalVerdict =
  | { action: "delete"; systemId: string }
  | { action: "keep"; systemId: string }
  | { action: "no-base"; systemId: string }
  | { action: "unparsable" };

/** What prune does with one stored key under wal/. */
export function judgeWalKey(key: string, points: Map<string, WalKeepPoint>): WalVerdict {
  const p = parseWalKey(key);
  if (!p) return { action: "unparsable" };
  const point = points.get(p.systemId);
  if (!point) return { action: "no-base", systemId: p.systemId };
  const w = p.wal;
  const before = w.kind !== "history" && w.timeline <= point.timeline && segPart(w.segment!) < segPart(point.startWal);
  return { action: before ? "delete" : "keep", systemId: p.systemId };
}
