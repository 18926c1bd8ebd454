import { isUtf8 } from "node:buffer";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import { backupTime, FORMAT, isBackupId, isManifestKey, keys } from "./layout.js";

export interface CompleteObject {
  key: string;
  size: number;
  sha256: string;
  /** The source this object holds, absent for the manifest. */
  source?: string;
  /** For a source's further objects (e.g. "globals"); absent for its main object. */
  part?: string;
  /** A differential files object (docs/format.md, "Differential backups"): the id of the full backup it applies on top of. */
  base?: string;
  /**
   * The manifest's object only: the size of the manifest's JSON text (decompressed, decrypted), so
   * that a reader stops a small object that inflates to more. Absent in backups of older versions.
   */
  manifest_bytes?: number;
}

export type SourceType = "files" | "postgres" | "postgres-cluster";

/**
 * A postgres-cluster base backup's WAL start, in plaintext so that prune (which may read complete.json
 * and nothing else) knows which archived WAL a kept base still needs. Nothing secret: the cluster's
 * system identifier, the timeline and the name of the first segment recovery from this base reads.
 */
export interface WalStart {
  system_identifier: string;
  timeline: number;
  start_wal: string;
}

/** The plaintext commit marker (docs/format.md, "`complete.json`"): nothing secret, enough to check integrity without the key. */
export interface CompleteRecord {
  format: typeof FORMAT;
  id: string;
  started_at: string;
  finished_at: string;
  host: string;
  tool_version: string;
  compression: string;
  sources: { name: string; type: SourceType; wal?: WalStart }[];
  objects: CompleteObject[];
  warnings: number;
  /**
   * The sources stored with paths left out that could not be read (on_unreadable: partial); their
   * manifest parts list them. Absent when every source was read whole.
   */
  partial?: string[];
}

/** Source names: the config's own rule, so a name from a repository can never be a path. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/i;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const COMPRESSION = /^(zstd|gzip|none)(:\d{1,2})?$/;
/** A source's objects: `<source>.tar|.pgdump|.base.tar` (main) or `<source>.<part>.<ext>` (extras), then compression, then `.age`. */
const MAIN_SUFFIX = /^\.(tar|pgdump|base\.tar)(\.zst|\.gz)?\.age$/;
const MAIN_OF: Record<SourceType, string> = { files: "tar", postgres: "pgdump", "postgres-cluster": "base.tar" };
const PART = /^[a-z][a-z0-9-]{0,31}$/;
const PART_SUFFIX = /^\.[a-z0-9]{1,16}(\.zst|\.gz)?\.age$/;

/**
 * The largest complete.json a reader accepts, and the most it reads of one. The real maximum: an
 * object's record, as written (JSON.stringify, indent 2), is at most ~480 bytes (a key of at most
 * 153 characters: `backups/<id>/` 32 + a source name 63 + a part's suffix 58; a SHA-256; a size, a
 * manifest_bytes of 16 digits; a source name; a part; a base id), so 10,000 objects are < 4.8 MB;
 * 1,000 sources add < 0.1 MB, and as many again in `partial`. 8 MiB leaves room, and no more: a forged marker costs a reader at
 * most this much to read, whatever its writer put in it.
 */
export const MAX_COMPLETE_BYTES = 8 * 1024 * 1024;
/** complete.json nests three deep (root → objects → an object); anything deeper is refused before JSON.parse sees it. */
const MAX_COMPLETE_DEPTH = 8;
/** Every key complete.json may hold, level by level; any other is refused (a real writer never writes one). */
const TOP_KEYS = new Set([
  "format",
  "id",
  "started_at",
  "finished_at",
  "host",
  "tool_version",
  "compression",
  "sources",
  "objects",
  "warnings",
  "partial",
]);
const SOURCE_KEYS = new Set(["name", "type", "wal"]);
const WAL_KEYS = new Set(["system_identifier", "timeline", "start_wal"]);
const OBJECT_KEYS = new Set(["key", "size", "sha256", "source", "part", "base", "manifest_bytes"]);
/**
 * A manifest's JSON is mostly paths and SHA-256 hex: zstd and gzip shrink it 3-10 times, never
 * 1,000 times (that takes text that repeats itself, like whitespace). A declared manifest_bytes
 * beyond max(64 MiB, 1024 × the stored size) is not something a real backup writes.
 */
export const MANIFEST_FLOOR_BYTES = 64 * 1024 * 1024;
export const MANIFEST_DECLARED_RATIO = 1024;

/**
 * The deepest nesting of a JSON text, counted on its bytes (string-aware) without parsing it, and
 * given up on as soon as it passes `max`: a forged text of 31M brackets costs one short scan.
 */
export function jsonTooDeep(buf: Uint8Array, max: number): boolean {
  let depth = 0;
  let inStr = false;
  let esc = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === 0x5c) esc = true;
      else if (c === 0x22) inStr = false;
    } else if (c === 0x22) inStr = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function onlyKeys(v: Record<string, unknown>, allowed: Set<string>, at: string): void {
  for (const k of Object.keys(v))
    if (!allowed.has(k)) throw new Error(`${at}has an unknown key ${quoteName(k.slice(0, 80))}`);
}

/** A source's `wal` record, hostile: a decimal 64-bit system identifier, a timeline, a segment name of that timeline. */
function walStart(v: unknown, at: string): WalStart {
  if (!isObject(v)) throw new Error(`${at} is not an object`);
  onlyKeys(v, WAL_KEYS, `${at} `);
  const sysid = v.system_identifier;
  if (typeof sysid !== "string" || !/^[1-9]\d{0,19}$/.test(sysid) || BigInt(sysid) >= 2n ** 64n)
    throw new Error(`${at}.system_identifier is not a 64-bit number`);
  const tli = v.timeline;
  if (typeof tli !== "number" || !Number.isInteger(tli) || tli < 1 || tli > 0xffffffff)
    throw new Error(`${at}.timeline is not a timeline number`);
  const seg = v.start_wal;
  if (typeof seg !== "string" || !/^[0-9A-F]{24}$/.test(seg) || parseInt(seg.slice(0, 8), 16) !== tli)
    throw new Error(`${at}.start_wal is not a WAL segment name of timeline ${tli}`);
  return { system_identifier: sysid, timeline: tli, start_wal: seg };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/** One validated string field, bounded, printable. */
function text(v: unknown, what: string, max = 256): string {
  if (typeof v !== "string" || v.length > max || /[\u0000-\u001f\u007f]/.test(v))
    throw new Error(`${what} is not a short printable string`);
  return v;
}

function time(v: unknown, what: string): Date {
  const s = text(v, what, 40);
  const d = new Date(s);
  if (!ISO_UTC.test(s) || Number.isNaN(d.getTime())) throw new Error(`${what} is not an ISO 8601 UTC time`);
  return d;
}

function count(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what} is not a whole number >= 0`);
  return v;
}

/**
 * Parses and validates a backup's complete.json. Everything in it is hostile input (anyone who can
 * write to the bucket can write one): names must be source names, every key must be exactly where
 * the layout puts that backup's objects, and the start time must agree with the id, so a flipped
 * digit can neither redirect a restore nor make an old backup look like the newest.
 */
export function parseComplete(raw: Buffer | string, id: string): CompleteRecord {
  const key = keys.complete(id);
  const bytes = typeof raw === "string" ? Buffer.from(raw, "utf8") : raw;
  if (bytes.length > MAX_COMPLETE_BYTES)
    throw new StrongboxError(
      "VERIFY",
      `${key}: larger than a commit marker may be (> ${MAX_COMPLETE_BYTES} bytes; corrupt or forged)`,
    );
  if (!isUtf8(bytes))
    throw new StrongboxError("VERIFY", `${key}: not valid JSON (not UTF-8 text: corrupt or forged commit marker)`);
  if (jsonTooDeep(bytes, MAX_COMPLETE_DEPTH))
    throw new StrongboxError(
      "VERIFY",
      `${key}: nested deeper than ${MAX_COMPLETE_DEPTH} levels (corrupt or forged commit marker)`,
    );
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new StrongboxError("VERIFY", `${key}: not valid JSON (corrupt commit marker)`);
  }
  try {
    if (!isObject(v)) throw new Error("not a JSON object");
    onlyKeys(v, TOP_KEYS, "");
    if (v.format !== FORMAT) throw new Error(`format is not ${FORMAT}`);
    if (v.id !== id || !isBackupId(id))
      throw new Error(`names backup ${quoteName(String(v.id).slice(0, 40))}, not ${id}`);
    const started = time(v.started_at, "started_at");
    const finished = time(v.finished_at, "finished_at");
    if (Math.floor(started.getTime() / 1000) * 1000 !== backupTime(id).getTime())
      throw new Error(`started_at ${v.started_at} does not match the time in the backup id`);
    if (finished < started) throw new Error("finished_at is before started_at");
    text(v.host, "host");
    text(v.tool_version, "tool_version", 64);
    if (!COMPRESSION.test(text(v.compression, "compression", 16)))
      throw new Error("compression is not zstd, gzip or none");
    count(v.warnings, "warnings");

    if (!Array.isArray(v.sources) || v.sources.length === 0 || v.sources.length > 1000)
      throw new Error("sources is not a list of sources");
    const types = new Map<string, SourceType>();
    const sources = v.sources.map((s: unknown, i: number) => {
      if (!isObject(s)) throw new Error(`sources[${i}] is not an object`);
      onlyKeys(s, SOURCE_KEYS, `sources[${i}] `);
      const name = s.name;
      if (typeof name !== "string" || !SOURCE_NAME.test(name))
        throw new Error(`sources[${i}].name ${quoteName(String(name).slice(0, 80))} is not a source name`);
      if (s.type !== "files" && s.type !== "postgres" && s.type !== "postgres-cluster")
        throw new Error(`sources[${i}].type is not files, postgres or postgres-cluster`);
      if (types.has(name)) throw new Error(`source ${name} is listed twice`);
      types.set(name, s.type);
      if (s.wal === undefined) return { name, type: s.type as SourceType };
      if (s.type !== "postgres-cluster") throw new Error(`sources[${i}].wal: only a postgres-cluster source has one`);
      return { name, type: s.type as SourceType, wal: walStart(s.wal, `sources[${i}].wal`) };
    });

    if (!Array.isArray(v.objects) || v.objects.length > 10_000) throw new Error("objects is not a list");
    const seen = new Set<string>();
    const mains = new Set<string>();
    let manifests = 0;
    const objects = v.objects.map((o: unknown, i: number) => {
      const at = `objects[${i}]`;
      if (!isObject(o)) throw new Error(`${at} is not an object`);
      onlyKeys(o, OBJECT_KEYS, `${at} `);
      const k = text(o.key, `${at}.key`, 512);
      if (seen.has(k)) throw new Error(`${at}: ${k} is listed twice`);
      seen.add(k);
      const size = count(o.size, `${at}.size`);
      if (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256))
        throw new Error(`${at}.sha256 is not a SHA-256`);
      const out: CompleteObject = { key: k, size, sha256: o.sha256 };
      if (o.source === undefined) {
        if (o.part !== undefined || o.base !== undefined || !isManifestKey(id, k))
          throw new Error(`${at}: ${quoteName(k)} is not this backup's manifest key`);
        if (o.manifest_bytes !== undefined) {
          const declared = count(o.manifest_bytes, `${at}.manifest_bytes`);
          const most = Math.max(MANIFEST_FLOOR_BYTES, MANIFEST_DECLARED_RATIO * size);
          if (declared > most)
            throw new Error(
              `${at}.manifest_bytes ${declared} is more than a ${size}-byte manifest object can hold (at most ${most})`,
            );
          out.manifest_bytes = declared;
        }
        manifests++;
        return out;
      }
      if (o.manifest_bytes !== undefined)
        throw new Error(`${at}: manifest_bytes on an object that is not the manifest`);
      const source = o.source;
      if (typeof source !== "string" || !types.has(source))
        throw new Error(`${at}: source ${quoteName(String(source).slice(0, 80))} is not one of the backup's sources`);
      const prefix = keys.object(id, source);
      if (!k.startsWith(prefix)) throw new Error(`${at}: ${quoteName(k)} is not under ${prefix}*`);
      const rest = k.slice(prefix.length);
      if (o.part === undefined) {
        const m = MAIN_SUFFIX.exec(rest);
        if (!m || m[1] !== MAIN_OF[types.get(source)!])
          throw new Error(`${at}: ${quoteName(k)} is not a ${types.get(source)} object name`);
        if (mains.has(source)) throw new Error(`source ${source} has two main objects`);
        mains.add(source);
        if (o.base !== undefined) {
          // Hostile input: a base must be another, earlier backup's id, never a path or this backup.
          if (typeof o.base !== "string" || !isBackupId(o.base)) throw new Error(`${at}.base is not a backup id`);
          if (types.get(source) !== "files") throw new Error(`${at}: only files objects can be differential`);
          if (o.base === id || backupTime(o.base) > backupTime(id))
            throw new Error(`${at}.base ${o.base} is not an earlier backup`);
          out.base = o.base;
        }
      } else {
        if (o.base !== undefined) throw new Error(`${at}: only a source's main object can have a base`);
        // Only a database has another object (its globals); a part elsewhere is no backup strongbox wrote.
        if (types.get(source) !== "postgres") throw new Error(`${at}: a ${types.get(source)} source has no parts`);
        if (typeof o.part !== "string" || !PART.test(o.part)) throw new Error(`${at}.part is not a part name`);
        if (!rest.startsWith(`.${o.part}`) || !PART_SUFFIX.test(rest.slice(o.part.length + 1)))
          throw new Error(`${at}: ${quoteName(k)} is not a name for part ${o.part}`);
        out.part = o.part;
      }
      out.source = source;
      return out;
    });
    if (manifests !== 1) throw new Error("does not list exactly one manifest");
    for (const s of sources) if (!mains.has(s.name)) throw new Error(`source ${s.name} has no object`);
    let partial: string[] | undefined;
    if (v.partial !== undefined) {
      if (!Array.isArray(v.partial) || v.partial.length === 0) throw new Error("partial is not a list of sources");
      partial = v.partial.map((n: unknown, i: number) => {
        if (typeof n !== "string" || types.get(n) !== "files")
          throw new Error(
            `partial[${i}] ${quoteName(String(n).slice(0, 80))} is not one of the backup's files sources`,
          );
        return n;
      });
      if (new Set(partial).size !== partial.length) throw new Error("partial lists a source twice");
    }

    return {
      format: FORMAT,
      id,
      started_at: v.started_at as string,
      finished_at: v.finished_at as string,
      host: v.host as string,
      tool_version: v.tool_version as string,
      compression: v.compression as string,
      sources,
      objects,
      warnings: v.warnings as number,
      ...(partial ? { partial } : {}),
    };
  } catch (err) {
    if (err instanceof StrongboxError) throw err;
    throw new StrongboxError("VERIFY", `${key}: ${(err as Error).message} (corrupt or forged commit marker)`);
  }
}
