import { StrongboxError } from "../errors.js";
import { isoTime, isSafeCount, type CompleteRecord } from "./complete.js";
import { FORMAT } from "./layout.js";
import type { ManifestEntry } from "../archive/tar-pack.js";

export interface FilesManifest {
  type: "files";
  path: string;
  object: string;
  files: number;
  bytes: number;
  entries: ManifestEntry[];
  warnings: string[];
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

export type SourceManifest = FilesManifest | PostgresManifest;

/** The encrypted manifest (SPEC §4): everything restore, verify and drill check against. */
export interface Manifest {
  format: "strongbox/1";
  id: string;
  created_at: string;
  host: string;
  sources: Record<string, SourceManifest>;
}

/**
 * Validates a decrypted manifest against its (already validated) complete.json: same id, the same
 * sources with the same types, each pointing at the object complete.json records for it.
 */
export function validateManifest(v: any, rec: CompleteRecord, key: string): Manifest {
  const bad = (what: string) => new StrongboxError("VERIFY", `${key}: ${what} (the manifest disagrees with complete.json or is malformed)`);
  if (!v || typeof v !== "object" || v.format !== FORMAT) throw bad(`not a ${FORMAT} manifest`);
  if (v.id !== rec.id) throw new StrongboxError("VERIFY", `${key}: manifest names backup ${JSON.stringify(v.id)}, not ${rec.id}`);
  if (Number.isNaN(isoTime(v.created_at))) throw bad("created_at is not an ISO 8601 UTC time");
  if (v.created_at !== rec.started_at) throw bad(`created_at ${v.created_at} is not complete.json's started_at ${rec.started_at}`);
  if (typeof v.host !== "string") throw bad("host is not a string");
  if (!v.sources || typeof v.sources !== "object" || Array.isArray(v.sources)) throw bad("sources is not an object");
  const names = Object.keys(v.sources).sort();
  const want = rec.sources.map((s) => s.name).sort();
  if (names.join("\0") !== want.join("\0")) throw bad(`sources ${JSON.stringify(names)} are not complete.json's ${JSON.stringify(want)}`);
  for (const s of rec.sources) {
    const m = v.sources[s.name];
    if (!m || m.type !== s.type) throw bad(`source ${s.name} has type ${JSON.stringify(m?.type)}, complete.json says ${s.type}`);
    const main = rec.objects.find((o) => o.source === s.name && o.part === undefined);
    if (m.object !== main?.key) throw bad(`source ${s.name} names object ${JSON.stringify(m.object)}, complete.json ${JSON.stringify(main?.key)}`);
    if (!Array.isArray(m.warnings) || !m.warnings.every((w: unknown) => typeof w === "string")) throw bad(`source ${s.name}: warnings is not a list of strings`);
    if (m.type === "files") {
      if (typeof m.path !== "string" || !isSafeCount(m.files) || !isSafeCount(m.bytes) || !Array.isArray(m.entries)) throw bad(`source ${s.name}: malformed files entry`);
      for (const e of m.entries) {
        if (!e || typeof e.path !== "string" || !["file", "dir", "symlink"].includes(e.type) || !isSafeCount(e.size) || !isSafeCount(e.mode) || typeof e.mtime !== "string") {
          throw bad(`source ${s.name}: malformed file entry`);
        }
        if (e.sha256 !== undefined && (typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256))) throw bad(`source ${s.name}: malformed file hash`);
        if (e.target !== undefined && typeof e.target !== "string") throw bad(`source ${s.name}: malformed symlink target`);
      }
    } else {
      if (typeof m.server_version !== "string" || typeof m.database !== "string" || typeof m.pg_dump_version !== "string" || !/^\d+(\.\d+)*/.test(m.pg_dump_version) || !Array.isArray(m.tables)) {
        throw bad(`source ${s.name}: malformed postgres entry`);
      }
      for (const t of m.tables) {
        if (!t || typeof t.schema !== "string" || typeof t.name !== "string" || (t.kind !== "r" && t.kind !== "p") || !isSafeCount(t.rows)) throw bad(`source ${s.name}: malformed table entry`);
      }
    }
  }
  return v as Manifest;
}
