import { newestFirst } from "../repository/layout.js";
import { wallTime } from "../time/zone.js";

export interface RetentionRules {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
}

export interface BackupInfo {
  id: string;
  /** The time retention files it under: its start when a trusted key signed it, else when it finished (engine/prune.ts, retentionTime). */
  time: Date;
  complete: boolean;
  /** The sources it holds (complete.json's sources); retention is computed per source. */
  sources: string[];
  /** Newest write to any of its objects: an incomplete backup written to recently may still be running. */
  lastActivity?: Date;
  /** Whether its most recent drill passed. */
  drillPassed?: boolean;
  /** The full backups its differential objects apply on top of (README, "Differential backups"): kept while it is kept. */
  bases?: string[];
  /** Why it must not be counted (store time, signature): kept and flagged, never in a slot. */
  untrusted?: string[];
  /**
   * Why it cannot be restored (a differential whose base is missing, incomplete, damaged or
   * untrusted): never counted, never "newest", never satisfies the guard; kept and flagged, like an
   * untrusted one (deleting data automatically is worse than keeping a useless backup).
   */
  unrestorable?: string;
}

export interface Decision {
  id: string;
  keep: boolean;
  reasons: string[];
}

export const INCOMPLETE_GRACE_MS = 24 * 3600_000;

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** ISO 8601 week ("2026-W47") of a wall-clock time encoded as UTC. */
function isoWeek(w: Date): string {
  const d = new Date(Date.UTC(w.getUTCFullYear(), w.getUTCMonth(), w.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: { rule: keyof RetentionRules; label: string; key: (w: Date) => string }[] = [
  {
    rule: "keep_hourly",
    label: "hourly",
    key: (w) => `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}T${pad(w.getUTCHours())}`,
  },
  {
    rule: "keep_daily",
    label: "daily",
    key: (w) => `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}`,
  },
  { rule: "keep_weekly", label: "weekly", key: isoWeek },
  { rule: "keep_monthly", label: "monthly", key: (w) => `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}` },
  { rule: "keep_yearly", label: "yearly", key: (w) => String(w.getUTCFullYear()) },
];

export function hasRules(rules: RetentionRules | undefined): boolean {
  return Boolean(
    rules && (Object.keys(rules) as (keyof RetentionRules)[]).some((k) => k.startsWith("keep_") && (rules[k] ?? 0) > 0),
  );
}

/** The reasons one group (the complete backups holding one source, newest first) keeps, by id. */
function keepInGroup(
  group: BackupInfo[],
  rules: RetentionRules,
  tz: string,
  add: (id: string, why: string) => void,
): void {
  group.slice(0, rules.keep_last ?? 0).forEach((b, i) => add(b.id, `last ${i + 1}/${rules.keep_last}`));
  for (const { rule, label, key } of BUCKETS) {
    const n = rules[rule] ?? 0;
    if (n <= 0) continue;
    let last: string | undefined;
    let count = 0;
    for (const b of group) {
      const k = key(new Date(wallTime(b.time.getTime(), tz)));
      if (k === last) continue;
      last = k;
      if (++count > n) break;
      add(b.id, `${label} ${k}`);
    }
  }
  if (group[0]) add(group[0].id, "newest");
  const drilled = group.find((b) => b.drillPassed);
  if (drilled) add(drilled.id, "newest drill-passed");
}

/**
 * restic `forget` semantics, grouped by source as restic groups by paths: for each source, the
 * union of keep_last and of the newest backup in each of the last N hours/days/weeks/months/years
 * that have backups of it (periods in `timezone`). A complete backup is dropped only when no rule
 * keeps it for any source it holds. Whatever the rules say, per source: its newest complete backup
 * and its newest backup whose last drill passed are kept; incomplete backups go only once nothing
 * was written to them for 24 h; and nothing is dropped that would leave a source without a
 * complete backup. Every decision says why, naming the sources ("last 1/2 of db, projects").
 * Only trusted backups are counted: an untrusted one (`untrusted` non-empty: a claimed time the
 * store contradicts, a bad signature) takes no slot, is never "newest" nor "newest drill-passed",
 * does not satisfy the guard above, and is itself always kept ("untrusted: …") for an operator.
 */
export function applyRetention(
  backups: BackupInfo[],
  rules: RetentionRules,
  o: { now: Date; timezone?: string },
): Decision[] {
  const tz = o.timezone ?? "UTC";
  // id → reason text → sources it applies to (insertion order kept, so the text reads rule by rule)
  const reasons = new Map<string, Map<string, string[]>>(backups.map((b) => [b.id, new Map()]));
  const trusted = (b: BackupInfo) => !b.untrusted?.length && !b.unrestorable;
  const complete = backups.filter((b) => b.complete && trusted(b)).sort(newestFirst);
  const groups = new Map<string, BackupInfo[]>();
  for (const b of complete) {
    // A backup that names no source (a damaged or foreign complete.json) forms its own group, so it is never dropped unseen.
    for (const s of b.sources.length ? b.sources : [`(no sources listed)`]) {
      if (!groups.has(s)) groups.set(s, []);
      groups.get(s)!.push(b);
    }
  }
  for (const [source, group] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    keepInGroup(group, rules, tz, (id, why) => {
      const m = reasons.get(id)!;
      if (!m.has(why)) m.set(why, []);
      m.get(why)!.push(source);
    });
  }

  const decisions: Decision[] = [];
  for (const b of [...backups].sort(newestFirst)) {
    const why = [...reasons.get(b.id)!].map(([text, sources]) => `${text} of ${sources.join(", ")}`);
    if (b.untrusted?.length) {
      decisions.push({ id: b.id, keep: true, reasons: [`untrusted: ${b.untrusted!.join("; ")}`] });
    } else if (b.unrestorable && b.complete) {
      decisions.push({ id: b.id, keep: true, reasons: [`unrestorable, not counted: ${b.unrestorable}`] });
    } else if (b.complete) {
      decisions.push(
        why.length
          ? { id: b.id, keep: true, reasons: why }
          : {
              id: b.id,
              keep: false,
              reasons: [`no rule keeps it for any of its sources (${b.sources.join(", ") || "none listed"})`],
            },
      );
    } else {
      const idle = o.now.getTime() - (b.lastActivity ?? b.time).getTime();
      decisions.push(
        idle > INCOMPLETE_GRACE_MS
          ? { id: b.id, keep: false, reasons: ["incomplete, nothing written for over 24 h"] }
          : { id: b.id, keep: true, reasons: ["incomplete, may still be in progress (< 24 h)"] },
      );
    }
  }
  // A kept differential keeps its base full, whatever the rules say of the full itself. An untrusted
  // differential keeps its base too: keeping is the safe direction, and a copied backup (flagged
  // back-dated until its signature is checked) stays restorable.
  const byId = new Map(decisions.map((d) => [d.id, d]));
  for (const b of backups.filter((x) => x.complete).sort(newestFirst)) {
    if (!byId.get(b.id)!.keep) continue;
    for (const baseId of b.bases ?? []) {
      const base = byId.get(baseId);
      if (!base) continue;
      if (!base.keep) {
        base.keep = true;
        base.reasons = [];
      }
      base.reasons.push(`base of ${b.id}`);
    }
  }
  // Belt and braces: never leave a source (or the repository) without a complete backup.
  const kept = new Set(decisions.filter((d) => d.keep).map((d) => d.id));
  for (const [source, group] of groups) {
    if (!group.some((b) => kept.has(b.id)))
      throw new Error(`retention would delete every complete backup of ${source}; refusing`);
  }
  return decisions;
}

/** One source for which a prune would delete too large a share of its trusted complete backups. */
export interface ShareExcess {
  source: string;
  drop: number;
  of: number;
}

/**
 * The sources of which `decisions` would delete more than `maxShare` of the trusted complete
 * backups (per source, as retention groups them). Incomplete backups and untrusted ones count
 * neither way: removing leftovers of killed runs is routine, and untrusted ones are never deleted.
 * A run that would delete most of a source's backups at once is what a forger steering retention,
 * a clock gone wrong or a mistyped policy looks like; the operator confirms it with --force.
 */
export function deleteShareExcess(backups: BackupInfo[], decisions: Decision[], maxShare: number): ShareExcess[] {
  const dropped = new Set(decisions.filter((d) => !d.keep).map((d) => d.id));
  const per = new Map<string, { drop: number; of: number }>();
  for (const b of backups) {
    if (!b.complete || b.untrusted?.length || b.unrestorable) continue;
    for (const s of b.sources.length ? b.sources : ["(no sources listed)"]) {
      const c = per.get(s) ?? { drop: 0, of: 0 };
      c.of++;
      if (dropped.has(b.id)) c.drop++;
      per.set(s, c);
    }
  }
  return [...per]
    .filter(([, c]) => c.drop > 0 && c.drop > maxShare * c.of)
    .map(([source, c]) => ({ source, ...c }))
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}
