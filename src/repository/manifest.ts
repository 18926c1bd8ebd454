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
