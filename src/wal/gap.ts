import { Writable } from "node:stream";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { ObjectInfo, Store } from "../stores/store.js";
import { MAX_OBJECTS_PER_NAME, readWalObject } from "./fetch.js";
import type { TrustPolicy } from "../crypto/signing.js";
import { chooseWal, describeIgnored, type IgnoredWal, type WalCandidate, type WalChoice } from "./select.js";
import {
  formatLsn,
  hex8,
  parseLsn,
  parseWalKey,
  parseWalName,
  type WalName,
  segmentName,
  segmentNumber,
  walRoot,
  type ParsedWalKey,
} from "./names.js";

/** One timeline of the path recovery follows: it holds the WAL from `begin` (inclusive) to `end` (exclusive). */
export interface TimelineSpan {
  timeline: number;
  begin: bigint;
  end: bigint | null;
}

export interface WalChainInput {
  systemId: string;
  /** Where the base backup starts: its timeline and start LSN. */
  start: { timeline: number; lsn: bigint };
  /** wal_segment_size of the cluster (the base backup's manifest or pg_control says it). */
  segmentSize: number;
  /** The listing of `wal/<systemId>/` (anything else in it is ignored). */
  objects: Iterable<ObjectInfo>;
  /** The text of a stored .history file (decrypted and checked); called only for the timelines needed. */
  readHistory(key: ParsedWalKey): Promise<string>;
  /** signing.trusted: untrusted objects are ignored, as `wal fetch` ignores them (wal/select.ts). */
  policy?: TrustPolicy;
}

export type WalChainResult =
  | {
      ok: true;
      /** The timelines followed, oldest first. */
      timelines: TimelineSpan[];
      first: string;
      last: string;
      /** The stored object of each segment of the path, in order: what a deep check reads. */
      keys: ParsedWalKey[];
      /** Objects that did not count (untrusted under the policy), when there were any. */
      ignored?: IgnoredWal[];
    }
  | { ok: false; name: string; reason: string; ignored?: IgnoredWal[] };

/** Parses a timeline history file: "parentTLI<tab>switchpoint<tab>reason" lines, oldest first. */
export function parseHistory(text: string, timeline: number): TimelineSpan[] {
  const spans: TimelineSpan[] = [];
  let begin = 0n;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(\d{1,10})\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(\s|$)/.exec(line);
    if (!m) throw new Error(`line ${JSON.stringify(line.slice(0, 60))} is not "timeline switchpoint reason"`);
    const tli = Number(m[1]);
    const end = parseLsn(m[2])!;
    const prev = spans.at(-1);
    if ((prev && tli <= prev.timeline) || tli >= timeline || end < begin)
      throw new Error(`timeline ${tli} at ${m[2]} is out of order`);
    spans.push({ timeline: tli, begin, end });
    begin = end;
  }
  spans.push({ timeline, begin, end: null });
  return spans;
}

/** The stored objects of `wal/<sysid>/`, by WAL file name, each name with the choice `wal fetch` makes. */
function byName(
  systemId: string,
  objects: Iterable<ObjectInfo>,
  policy: TrustPolicy | undefined,
): { files: Map<string, WalChoice>; ignored: IgnoredWal[] } {
  const lists = new Map<string, WalCandidate[]>();
  for (const o of objects) {
    const p = parseWalKey(o.key);
    if (!p || p.systemId !== systemId) continue;
    const list = lists.get(p.wal.name) ?? [];
    list.push({ key: p, size: o.size, ...(o.lastModified ? { storedAt: o.lastModified } : {}) });
    lists.set(p.wal.name, list);
  }
  const files = new Map<string, WalChoice>();
  const ignored: IgnoredWal[] = [];
  for (const [name, list] of lists) {
    const choice = chooseWal(list, policy);
    ignored.push(...choice.ignored);
    if (choice.kind !== "missing") files.set(name, choice);
  }
  // fetch refuses a name with more objects under its prefix than it judges: so does the chain.
  for (const [prefix, n] of perFetchPrefix(systemId, objects))
    if (n > MAX_OBJECTS_PER_NAME)
      files.set(prefix.slice(walRoot(systemId).length + 9, -1), {
        kind: "refused",
        reason: `${prefix}*: more than ${MAX_OBJECTS_PER_NAME} objects under this WAL file name, refusing to judge them`,
        ignored: [],
      });
  return { files, ignored };
}

/** How many objects (of any form) list under each segment's or history file's prefix, as `wal fetch` lists it. */
function perFetchPrefix(systemId: string, objects: Iterable<ObjectInfo>): Map<string, number> {
  const root = walRoot(systemId);
  const counts = new Map<string, number>();
  for (const o of objects) {
    if (!o.key.startsWith(root)) continue;
    const m = /^([0-9A-F]{8})\/((?:[0-9A-F]{24}|[0-9A-F]{8}\.history))\./.exec(o.key.slice(root.length));
    if (!m || m[2].slice(0, 8) !== m[1]) continue;
    const prefix = `${root}${m[1]}/${m[2]}.`;
    counts.set(prefix, (counts.get(prefix) ?? 0) + 1);
  }
  return counts;
}

/** The one object recovery takes for `name`, or why there is not one. */
function single(files: Map<string, WalChoice>, name: string): ParsedWalKey | string {
  const c = files.get(name);
  if (!c || c.kind === "missing") return "missing";
  if (c.kind === "refused") return c.reason;
  return c.chosen.key;
}

/** The WAL names that have an object that counts. */
const counted = (files: Map<string, WalChoice>) => [...files.keys()].map((n) => parseWalName(n)!);

/**
 * The path of timelines from the base backup's to the newest one that descends from it: the newest
 * timeline whose history has the start timeline, still running at the start LSN.
 */
async function timelinePath(
  input: WalChainInput,
  files: Map<string, WalChoice>,
): Promise<TimelineSpan[] | { name: string; reason: string }> {
  const { start } = input;
  // Every newer timeline with a file archived: each must have its history (a segment without one is a gap).
  const newer = counted(files)
    .filter((w) => w.timeline > start.timeline)
    .map((w) => w.timeline)
    .sort((a, b) => b - a);
  for (const tli of new Set(newer)) {
    const name = `${hex8(tli)}.history`;
    const h = single(files, name);
    if (typeof h === "string") return { name, reason: h };
    let spans: TimelineSpan[];
    try {
      spans = parseHistory(await input.readHistory(h), tli);
    } catch (err) {
      return { name, reason: `damaged: ${(err as Error).message}` };
    }
    const at = spans.find((s) => s.timeline === start.timeline);
    if (at && at.end !== null && start.lsn < at.end) return spans.filter((s) => s.timeline >= start.timeline);
  }
  return [{ timeline: start.timeline, begin: 0n, end: null }];
}

/**
 * Checks that the archive holds every segment recovery needs from the base backup's start LSN to
 * the newest archived segment, following timeline history: the first missing or doubtful segment
 * (or history file) is reported by name. Stops at the first problem, so a forged listing cannot
 * make it walk further than the objects it holds.
 */
export async function checkWalChain(input: WalChainInput): Promise<WalChainResult> {
  const listed = byName(input.systemId, input.objects, input.policy);
  const { files } = listed;
  const ignored = listed.ignored.length ? { ignored: listed.ignored } : {};
  const path = await timelinePath(input, files);
  if (!Array.isArray(path)) return { ok: false, ...path, ...ignored };
  const size = input.segmentSize;
  const beginSeg = (s: TimelineSpan) => s.begin / BigInt(size);
  const onPath = (w: WalName) => {
    if (w.kind !== "segment") return false;
    const span = path.find((s) => s.timeline === w.timeline);
    const segno = segmentNumber(w.segment!, size);
    return span !== undefined && segno >= beginSeg(span) && (span.end === null || segno <= span.end / BigInt(size));
  };
  const startSeg = input.start.lsn / BigInt(size);
  let lastSeg = startSeg;
  for (const w of counted(files))
    if (onPath(w)) lastSeg = [lastSeg, segmentNumber(w.segment!, size)].reduce((a, b) => (b > a ? b : a));
  const keys: ParsedWalKey[] = [];
  for (let segno = startSeg; segno <= lastSeg; segno++) {
    // Recovery reads each segment from the newest timeline that had begun by then.
    const span = [...path].reverse().find((s) => beginSeg(s) <= segno)!;
    const name = segmentName(span.timeline, segno, size);
    const k = single(files, name);
    if (typeof k === "string") return { ok: false, name, reason: k, ...ignored };
    keys.push(k);
  }
  return { ok: true, timelines: path, first: keys[0].wal.name, last: keys.at(-1)!.wal.name, keys, ...ignored };
}

/** A sink that only counts: a deep check reads every byte and keeps none. */
const discard = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

export interface WalVerifyReport {
  timelines: number[];
  first: string;
  last: string;
  segments: number;
  /** Whether every segment was decrypted and checked (hash, header), not just listed. */
  deep: boolean;
  /** One line naming the objects that did not count (untrusted), when there were any. */
  ignored?: string;
}

/**
 * How many objects under `wal/<sysid>/` verify and a drill hold in memory to judge the chain (a few
 * hundred bytes each). 500,000 segments is 8 TB of 16 MiB WAL after what prune keeps; more than that is
 * refused with one line instead of growing without bound on what a forger may have written.
 */
export const MAX_WAL_OBJECTS = 500_000;

/**
 * The WAL part of verify: lists `wal/<sysid>/`, checks the chain from the base backup's start, and
 * with `deep` decrypts and checks every segment of it. A gap or damage is a VERIFY error (exit 3)
 * naming the segment.
 */
export async function verifyWal(
  store: Store,
  identities: Identity[],
  o: {
    systemId: string;
    start: { timeline: number; lsn: bigint };
    segmentSize: number;
    deep?: boolean;
    signal?: AbortSignal;
    policy?: TrustPolicy;
    /** MAX_WAL_OBJECTS unless a test sets it. */
    maxObjects?: number;
  },
): Promise<WalVerifyReport> {
  const objects: ObjectInfo[] = [];
  const max = o.maxObjects ?? MAX_WAL_OBJECTS;
  for await (const obj of store.list(walRoot(o.systemId))) {
    if (objects.length === max)
      throw new StrongboxError(
        "VERIFY",
        `${walRoot(o.systemId)} holds more than ${max} objects: refusing to judge the WAL chain (prune deletes WAL no kept base needs; a flood of keys there is the work of a writer key)`,
      );
    objects.push(obj);
  }
  const readHistory = async (k: ParsedWalKey) => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    });
    await readWalObject(store, k, identities, sink, o.signal);
    return Buffer.concat(chunks).toString("utf8");
  };
  const r = await checkWalChain({ ...o, objects, readHistory });
  // A history file's read ended by the stop is reported by the chain check as damaged: it is the stop.
  if (!r.ok && o.signal?.aborted) throw o.signal.reason;
  const ignored = describeIgnored(r.ignored ?? []);
  if (!r.ok)
    throw new StrongboxError(
      "VERIFY",
      `WAL ${r.name}: ${r.reason} (needed from ${formatLsn(o.start.lsn)} on timeline ${o.start.timeline})${ignored ? `; ${ignored}` : ""}`,
    );
  if (o.deep)
    for (const k of r.keys)
      await readWalObject(store, k, identities, discard(), o.signal).catch((err: unknown) => {
        // Stopped (a signal, a deadline): the stop is the outcome, not a damaged segment.
        if (o.signal?.aborted) throw o.signal.reason;
        throw new StrongboxError("VERIFY", `WAL ${k.wal.name}: damaged: ${(err as Error).message}`);
      });
  return {
    timelines: r.timelines.map((t) => t.timeline),
    first: r.first,
    last: r.last,
    segments: r.keys.length,
    deep: Boolean(o.deep),
    ...(ignored ? { ignored } : {}),
  };
}
