import { isUtf8 } from "node:buffer";
import { comparePaths } from "../archive/path-order.js";
import { safeRelativePath } from "../archive/safe-path.js";
import type { ManifestEntry } from "../archive/tar-pack.js";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";
import type { CompleteRecord } from "./complete.js";
import { EntrySpool } from "./entry-spool.js";
import { parseManifestStream } from "./manifest-stream.js";
import { FORMAT, keys } from "./layout.js";
import { checkClusterManifest } from "./cluster-manifest.js";

export interface FilesManifest {
  type: "files";
  path: string;
  object: string;
  files: number;
  bytes: number;
  /** In tree order (path-order.ts); spooled, since a tree can hold millions. */
  entries: EntrySpool<ManifestEntry>;
  warnings: string[];
  /**
   * Differential (docs/format.md, "Differential backups"): the full it applies on top of. `entries` is still the whole tree;
   * `stored_files`/`stored_bytes` count what the differential object itself holds.
   */
  base?: string;
  stored_files?: number;
  stored_bytes?: number;
  /**
   * on_unreadable: partial: how many paths could not be read and were left out, and the first
   * 1,000 of them. A source with unreadable paths is committed only then (complete.json `partial`).
   */
  unreadable?: number;
  skipped?: string[];
  /** Files that changed while they were read (each archived as read; see the README). */
  changed?: number;
}

export interface PostgresManifest {
  type: "postgres";
  object: string;
  server_version: string;
  database: string;
  pg_dump_version: string;
  tables: { schema: string; name: string; kind: "r" | "p"; rows: number }[];
  warnings: string[];
}

/** A postgres-cluster base backup: where its WAL starts and ends, so that recovery and prune know what it needs. */
export interface ClusterManifest {
  type: "postgres-cluster";
  object: string;
  server_version: string;
  pg_basebackup_version: string;
  /** pg_control's system identifier, decimal (a 64-bit number). */
  system_identifier: string;
  timeline: number;
  start_lsn: string;
  stop_lsn: string;
  /** The segment holding start_lsn: the oldest WAL this base needs. */
  start_wal: string;
  start_time: string;
  stop_time: string;
  warnings: string[];
}

export type SourceManifest = FilesManifest | PostgresManifest | ClusterManifest;

/** The encrypted manifest (docs/format.md, "The manifest"): everything restore, verify and drill check against. */
export interface Manifest {
  format: "strongbox/1";
  id: string;
  created_at: string;
  host: string;
  sources: Record<string, SourceManifest>;
}

const fail = (why: string): never => {
  throw new Error(why);
};
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max = 4096): v is string => typeof v === "string" && v.length <= max;
const VERSION = /^\d{1,3}(\.\d{1,4}){0,2}$/;

/** In u-mode a surrogate pair is one code point: this matches only a lone surrogate. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** The keys an entry may have (ManifestEntry's); a real writer writes no other. */
const ENTRY_KEYS = new Set(["path", "type", "size", "mode", "mtime", "sha256", "target"]);

function entry(e: Record<string, unknown>, at: string): ManifestEntry {
  if (!e || typeof e !== "object" || Array.isArray(e)) fail(`${at} is not an object`);
  for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) fail(`${at} has an unknown key ${quoteName(k.slice(0, 80))}`);
  // A lone surrogate (from a \ud800 escape) has no UTF-8 form: no file system name can hold it.
  if (!isText(e.path) || !wellFormed(e.path) || safeRelativePath(e.path) !== e.path)
    fail(`${at}.path ${quoteName(String(e.path).slice(0, 80))} is not a safe relative path`);
  if (e.type !== "file" && e.type !== "dir" && e.type !== "symlink") fail(`${at}.type is not file, dir or symlink`);
  if (!isCount(e.size) || !isCount(e.mode) || e.mode > 0o7777) fail(`${at}: size or mode out of range`);
  if (!isText(e.mtime, 32) || !/^-?\d{1,12}(\.\d{1,9})?$/.test(e.mtime)) fail(`${at}.mtime is not decimal seconds`);
  if (e.type === "file" && (typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)))
    fail(`${at}.sha256 is not a SHA-256`);
  if (e.target !== undefined && (!isText(e.target) || !wellFormed(e.target))) fail(`${at}.target is not a path`);
  return e as unknown as ManifestEntry;
}

/** What a files source's entries add up to, counted as they stream past. */
interface Tally {
  files: number;
  bytes: number;
}

function sourceManifest(
  m: Record<string, unknown>,
  name: string,
  type: string,
  object: string,
  base: string | undefined,
  entries: EntrySpool<ManifestEntry> | undefined,
  tally: Tally,
): SourceManifest {
  const at = `sources.${name}`;
  if (!m || typeof m !== "object") fail(`${at} is missing`);
  if (m.type !== type) fail(`${at}.type is ${quoteName(String(m.type))}, complete.json says ${type}`);
  if (m.object !== object) fail(`${at}.object does not name the object complete.json lists for ${name}`);
  if (!Array.isArray(m.warnings) || !m.warnings.every((w) => isText(w))) fail(`${at}.warnings is not a list of texts`);
  if (type === "files") {
    // The entries themselves were checked one by one as they streamed past; here only their number is left.
    if (!isText(m.path) || !isCount(m.files) || !isCount(m.bytes) || !isCount(m.entries))
      fail(`${at}: path, files, bytes or entries malformed`);
    if (m.base !== base)
      fail(`${at}.base ${quoteName(String(m.base ?? "none"))} is not the base complete.json names (${base ?? "none"})`);
    if (base !== undefined && (!isCount(m.stored_files) || !isCount(m.stored_bytes)))
      fail(`${at}: stored_files or stored_bytes malformed`);
    // The counts are what the entries add up to: a reader trusts neither without the other.
    if (m.files !== tally.files) fail(`${at}.files is ${m.files}, its entries hold ${tally.files} files`);
    if (m.bytes !== tally.bytes) fail(`${at}.bytes is ${m.bytes}, its files add up to ${tally.bytes}`);
    if (base !== undefined && ((m.stored_files as number) > tally.files || (m.stored_bytes as number) > tally.bytes)) {
      fail(
        `${at}: stored_files ${m.stored_files} or stored_bytes ${m.stored_bytes} is more than the tree holds (${tally.files} files, ${tally.bytes} bytes)`,
      );
    }
    if (base === undefined && (m.stored_files !== undefined || m.stored_bytes !== undefined))
      fail(`${at}: stored_files or stored_bytes without a base`);
    if (
      m.unreadable !== undefined &&
      (!isCount(m.unreadable) ||
        !Array.isArray(m.skipped) ||
        m.skipped.length > 1000 ||
        m.skipped.length > m.unreadable ||
        !m.skipped.every((p) => isText(p)))
    ) {
      fail(`${at}: unreadable or skipped malformed`);
    }
    if (m.unreadable === undefined && m.skipped !== undefined) fail(`${at}: skipped without unreadable`);
    if (m.changed !== undefined && !isCount(m.changed)) fail(`${at}.changed is not a count`);
    m.entries = entries ?? new EntrySpool<ManifestEntry>();
  } else if (type === "postgres-cluster") {
    if (m.entries !== undefined) fail(`${at} is a ${type} source with file entries`);
    checkClusterManifest(m, at, fail);
  } else {
    if (m.entries !== undefined) fail(`${at} is a ${type} source with file entries`);
    for (const k of ["server_version", "database", "pg_dump_version"])
      if (!isText(m[k], 256)) fail(`${at}.${k} is not a text`);
    if (!VERSION.test(m.pg_dump_version as string)) fail(`${at}.pg_dump_version is not a version`);
    if (!Array.isArray(m.tables)) fail(`${at}.tables is not a list`);
    (m.tables as Record<string, unknown>[]).forEach((t, i) => {
      if (
        !t ||
        !isText(t.schema, 256) ||
        !isText(t.name, 256) ||
        (t.kind !== "r" && t.kind !== "p") ||
        !isCount(t.rows)
      )
        fail(`${at}.tables[${i}] malformed`);
    });
  }
  return m as unknown as SourceManifest;
}

/**
 * Reads a decrypted manifest as it streams and validates it against its backup's (already
 * validated) complete.json: same id, exactly the same sources with the same types and objects,
 * and well-formed entries in tree order, each files source's entries spooled (entry-spool.ts) so
 * that a tree of millions of files is never held in memory. A manifest is encrypted, but anyone
 * holding the public recipient can write one: it is hostile input.
 */
export async function readManifestStream(json: AsyncIterable<Buffer>, rec: CompleteRecord): Promise<Manifest> {
  const key = rec.objects.find((o) => o.source === undefined)?.key ?? keys.manifest(rec.id);
  const spools = new Map<string, { entries: EntrySpool<ManifestEntry>; last?: string; tally: Tally }>();
  const closeAll = () => {
    for (const s of spools.values()) s.entries.close();
  };
  let m: Record<string, unknown>;
  let stage = "read";
  try {
    m = (await parseManifestStream(utf8Only(json, key), (name, value, i) => {
      stage = "check";
      let s = spools.get(name);
      if (!s) spools.set(name, (s = { entries: new EntrySpool<ManifestEntry>(), tally: { files: 0, bytes: 0 } }));
      const at = `sources.${name}.entries[${i}]`;
      const e = entry(value as Record<string, unknown>, at);
      if (s.last !== undefined && comparePaths(e.path, s.last) <= 0)
        fail(`${at} ${quoteName(e.path.slice(0, 80))} is out of tree order (after ${quoteName(s.last.slice(0, 80))})`);
      s.last = e.path;
      if (e.type === "file") {
        s.tally.files++;
        s.tally.bytes += e.size;
        if (!Number.isSafeInteger(s.tally.bytes))
          fail(`${at}: the sizes of the files add up past ${Number.MAX_SAFE_INTEGER}`);
      }
      s.entries.push(e);
      stage = "read";
    })) as Record<string, unknown>;
  } catch (err) {
    closeAll();
    if (stage === "check" && !(err instanceof StrongboxError && err.code !== "VERIFY"))
      throw new StrongboxError(
        "VERIFY",
        `${key}: ${(err as Error).message} (does not agree with complete.json: corrupt or forged)`,
      );
    if (err instanceof StrongboxError) throw err;
    throw new StrongboxError("VERIFY", `${key}: decrypted manifest is not JSON (${(err as Error).message})`);
  }
  try {
    if (!m || typeof m !== "object" || Array.isArray(m)) fail("not a JSON object");
    if (m.format !== FORMAT) fail(`format is not ${FORMAT}`);
    if (m.id !== rec.id) fail(`names backup ${quoteName(String(m.id).slice(0, 40))}, not ${rec.id}`);
    const sources = m.sources as Record<string, Record<string, unknown>>;
    if (!sources || typeof sources !== "object" || Array.isArray(sources)) fail("sources is not an object");
    const listed = rec.sources.map((s) => s.name).sort();
    const held = Object.keys(sources).sort();
    if (listed.join("\n") !== held.join("\n"))
      fail(`holds sources ${held.map((n) => quoteName(n)).join(", ")}, complete.json lists ${listed.join(", ")}`);
    for (const s of rec.sources) {
      const object = rec.objects.find((o) => o.source === s.name && !o.part)!;
      const spool = spools.get(s.name);
      sourceManifest(
        sources[s.name],
        s.name,
        s.type,
        object.key,
        object.base,
        spool?.entries,
        spool?.tally ?? { files: 0, bytes: 0 },
      );
    }
    return m as unknown as Manifest;
  } catch (err) {
    closeAll();
    if (err instanceof StrongboxError && err.code !== "VERIFY") throw err;
    throw new StrongboxError(
      "VERIFY",
      `${key}: ${(err as Error).message} (does not agree with complete.json: corrupt or forged)`,
    );
  }
}

/**
 * Passes the chunks on, refusing bytes that are not UTF-8: decoded, they would become U+FFFD, and
 * two different names the same one. A character split between two chunks is checked whole.
 */
async function* utf8Only(json: AsyncIterable<Buffer>, key: string): AsyncGenerator<Buffer> {
  let carry: Buffer | undefined;
  let offset = 0;
  const refuse = (): never => {
    throw new StrongboxError(
      "VERIFY",
      `${key}: the decrypted manifest is not UTF-8 text (near byte ${offset}): corrupt or forged`,
    );
  };
  for await (const chunk of json) {
    const c = carry ? Buffer.concat([carry, chunk]) : chunk;
    // The last lead byte among the final three: the character it starts may go on in the next chunk.
    let cut = c.length;
    for (let i = c.length - 1; i >= Math.max(0, c.length - 3); i--) {
      const b = c[i];
      if (b < 0x80) break;
      if (b >= 0xc0) {
        const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
        if (c.length - i < need) cut = i;
        break;
      }
    }
    if (!isUtf8(c.subarray(0, cut))) refuse();
    carry = cut < c.length ? Buffer.from(c.subarray(cut)) : undefined;
    offset += cut;
    yield chunk;
  }
  if (carry) refuse();
}

/** The same, for a manifest already in memory. */
export function parseManifest(body: Buffer, rec: CompleteRecord): Promise<Manifest> {
  return readManifestStream(
    (async function* () {
      yield body;
    })(),
    rec,
  );
}
