import { StrongboxError } from "../errors.js";
import { backupTime, FORMAT, isBackupId, keys } from "./layout.js";

export interface CompleteObject {
  key: string;
  size: number;
  sha256: string;
  /** The source this object holds, absent for the manifest. */
  source?: string;
  /** For a source's further objects (e.g. "globals"); absent for its main object. */
  part?: string;
}

export type SourceType = "files" | "postgres";

/** The plaintext commit marker (SPEC §3): nothing secret, enough to check integrity without the key. */
export interface CompleteRecord {
  format: typeof FORMAT;
  id: string;
  started_at: string;
  finished_at: string;
  host: string;
  tool_version: string;
  compression: string;
  sources: { name: string; type: SourceType }[];
  objects: CompleteObject[];
  warnings: number;
}

/** The same rule as the config's source names: a name is one safe path segment. */
export const SOURCE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
const ISO_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const COMPRESSED = ["", ".zst", ".gz"];

export function isSafeCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Milliseconds of an ISO 8601 UTC timestamp, or NaN. */
export function isoTime(v: unknown): number {
  return typeof v === "string" && ISO_UTC_RE.test(v) ? Date.parse(v) : NaN;
}

/** The keys the layout allows for a source's main object and its parts (backup writes exactly these). */
export function allowedKeys(id: string, name: string, type: SourceType, part?: string): string[] {
  if (part !== undefined) return type === "postgres" && part === "globals" ? [keys.object(id, `${name}.globals.sql.age`)] : [];
  const suffix = type === "files" ? ".tar" : ".pgdump";
  return COMPRESSED.map((ext) => keys.object(id, `${name}${suffix}${ext}.age`));
}

/** Parses and validates a complete.json read from the repository: hostile input until this returns. */
export function parseComplete(text: string, key: string, expectedId?: string): CompleteRecord {
  const bad = (what: string) => new StrongboxError("VERIFY", `${key}: ${what} (damaged or forged commit marker)`);
  let v: any;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StrongboxError("VERIFY", `${key}: not valid JSON (corrupt commit marker)`);
  }
  if (!v || typeof v !== "object" || v.format !== FORMAT) throw new StrongboxError("VERIFY", `${key}: not a ${FORMAT} commit marker`);
  if (typeof v.id !== "string" || !isBackupId(v.id)) throw bad("id is not a backup id");
  if (expectedId !== undefined && v.id !== expectedId) throw new StrongboxError("VERIFY", `${key}: names backup ${JSON.stringify(v.id)}, not ${expectedId}`);
  const started = isoTime(v.started_at);
  const finished = isoTime(v.finished_at);
  if (Number.isNaN(started)) throw bad("started_at is not an ISO 8601 UTC time");
  if (Number.isNaN(finished)) throw bad("finished_at is not an ISO 8601 UTC time");
  // The id carries the start time to the second: a started_at elsewhere would reorder backups.
  if (Math.floor(started / 1000) * 1000 !== backupTime(v.id).getTime()) throw bad(`started_at ${v.started_at} disagrees with the id's time`);
  if (finished < started) throw bad("finished_at is before started_at");
  for (const f of ["host", "tool_version", "compression"]) if (typeof v[f] !== "string") throw bad(`${f} is not a string`);
  if (!isSafeCount(v.warnings)) throw bad("warnings is not a count");
  if (!Array.isArray(v.sources) || !Array.isArray(v.objects)) throw bad("sources or objects is not a list");
  const types = new Map<string, SourceType>();
  for (const s of v.sources) {
    if (!s || typeof s.name !== "string" || !SOURCE_NAME_RE.test(s.name)) throw bad(`source name ${JSON.stringify(s?.name)} is not letters, digits, '-' or '_'`);
    if (s.type !== "files" && s.type !== "postgres") throw bad(`source ${s.name} has unknown type ${JSON.stringify(s.type)}`);
    if (types.has(s.name)) throw bad(`source ${s.name} listed twice`);
    if (Object.keys(s).length !== 2) throw bad(`source ${s.name} has unexpected fields`);
    types.set(s.name, s.type);
  }
  const seen = new Set<string>();
  const mains = new Set<string>();
  let manifests = 0;
  for (const o of v.objects) {
    if (!o || typeof o.key !== "string") throw bad("an object has no key");
    if (!isSafeCount(o.size)) throw bad(`${o.key}: size is not a non-negative integer`);
    if (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256)) throw bad(`${o.key}: sha256 is not 64 hex digits`);
    if (seen.has(o.key)) throw bad(`${o.key} listed twice`);
    seen.add(o.key);
    if (o.source === undefined) {
      if (o.part !== undefined || o.key !== keys.manifest(v.id)) throw bad(`object key ${JSON.stringify(o.key)} is not this backup's manifest`);
      manifests++;
      continue;
    }
    const type = typeof o.source === "string" ? types.get(o.source) : undefined;
    if (!type) throw bad(`object ${JSON.stringify(o.key)} belongs to no listed source`);
    if (o.part !== undefined && typeof o.part !== "string") throw bad(`${o.key}: part is not a string`);
    if (!allowedKeys(v.id, o.source, type, o.part).includes(o.key)) throw bad(`object key ${JSON.stringify(o.key)} is not where backup ${v.id} keeps source ${o.source}`);
    if (o.part === undefined) {
      if (mains.has(o.source)) throw bad(`source ${o.source} has two main objects`);
      mains.add(o.source);
    }
  }
  if (manifests !== 1) throw bad("must list exactly one manifest");
  for (const name of types.keys()) if (!mains.has(name)) throw bad(`source ${name} has no object`);
  return {
    format: FORMAT,
    id: v.id,
    started_at: v.started_at,
    finished_at: v.finished_at,
    host: v.host,
    tool_version: v.tool_version,
    compression: v.compression,
    sources: v.sources.map((s: any) => ({ name: s.name, type: s.type })),
    objects: v.objects.map((o: any) => ({ key: o.key, size: o.size, sha256: o.sha256, ...(o.source !== undefined ? { source: o.source } : {}), ...(o.part !== undefined ? { part: o.part } : {}) })),
    warnings: v.warnings,
  };
}
