import type { Readable } from "node:stream";
import { StrongboxError } from "../errors.js";
import type { TreeSize } from "../archive/tree-size.js";
import type { Logger } from "../log.js";
import type { StateOwner } from "../differential/state.js";
import type { SourceManifest } from "../repository/manifest.js";

export interface JobContext {
  log: Logger;
  signal?: AbortSignal;
  /** Reports bytes read from (backup) or written to (restore) the source, for progress. */
  onBytes?: (n: number) => void;
  /** Differential files sources (README, "Differential backups"): the backup host's state, and whether `--full` was given. */
  differential?: {
    owner: StateOwner;
    forceFull: boolean;
    now: Date;
    /** With Object Lock: extends the base full's retention; a failure means a full is taken instead. */
    protectBase?: (keys: string[]) => Promise<void>;
    /** Where the backup host may look (a file:// repository): whether the last full is still committed. */
    baseExists?: (id: string) => Promise<boolean>;
  };
}

export interface SourceArtifact {
  /** The archive stream (tar, pg_dump custom format…), before compression and encryption. */
  stream: Readable;
  /** Object name suffix before compression, e.g. ".tar" or ".pgdump". */
  suffix: string;
  /** Expected size of the source data, for ETA; undefined if unknown. */
  estimatedBytes?: number;
  /** An estimate counted beside the backup instead (a tree's size): stopped once the stream is stored or has failed. */
  laterEstimate?: TreeSize;
  /** Further small objects of this source (e.g. a database's roles), stored after the main one. */
  extras?: { part: string; suffix: string; compress: boolean; stream: () => Readable }[];
  /** Called after the stream ended successfully: the source's manifest part. */
  finish(): Promise<SourceManifest>;
  /** A differential: the full it applies on top of, and that full's objects (for Object Lock). */
  base?: { id: string; objects: string[] };
  /** Called once the backup's complete.json is written: a full becomes the base of later differentials. */
  commit?(backup: { id: string; started_at: string; objects: string[] }): void;
}

/** Data of one stored object, opened only when asked: a differential reads its base full first. */
export type OpenLayer = <T>(use: (data: Readable) => Promise<T>) => Promise<T>;

/** What restore and verify read for one source: its object, and for a differential its base full's. */
export interface Layers {
  read: OpenLayer;
  base?: { id: string; read: OpenLayer };
  /**
   * A differential read WITHOUT its base (set only when `base` is absent): a partial restore whose
   * selection the differential's object holds alone (differential/needs-base.ts). Only the selected
   * entries are matched against the manifest.
   */
  withoutBase?: string;
}

export interface RestoreTarget {
  dir?: string;
  dbUrl?: string;
  force: boolean;
  /** pg_restore --no-owner --no-privileges, for restoring into another cluster. */
  noOwner?: boolean;
  /** Parallel pg_restore jobs (needs a temporary file). */
  jobs?: number;
  /** Files: keep setuid/setgid bits (stripped by default). */
  keepSetuid?: boolean;
  /** Files (--include/--exclude): only the paths this selects are written; the whole tree is still checked. */
  select?: (path: string) => boolean;
  /** A postgres-cluster source: where recovery stops, and how the restored cluster fetches WAL. */
  recovery?: RecoveryTarget;
}

/** Point-in-time recovery settings written into a restored cluster (postgresql.auto.conf). */
export interface RecoveryTarget {
  time?: string;
  lsn?: string;
  xid?: string;
  action: "promote" | "pause" | "shutdown";
  /** The restore_command, e.g. `strongbox -c /etc/strongbox.yaml wal fetch %f %p`. */
  restoreCommand: string;
}

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/**
 * What a source opened to read a stored backup (restore, verify, drill) takes from the config: its name
 * and the host's own settings, never the type or what to back up (those are the repository's).
 */
export interface StoredSourceSettings {
  name: string;
  /** Where the PostgreSQL client tools are on this host. */
  pg_bin_dir?: string;
}

/** The source's full config, which a backup needs; one opened only to read a stored backup has none. */
export function configToBackUp<T extends { type: string }>(cfg: T | StoredSourceSettings, name: string): T {
  if ("type" in cfg) return cfg;
  throw new StrongboxError("CONFIG", `source ${name} is not configured here: it can be restored, not backed up`);
}

export interface Source {
  readonly name: string;
  readonly type: "files" | "postgres" | "postgres-cluster";
  backup(ctx: JobContext): Promise<SourceArtifact>;
  /** Restores the decrypted, decompressed archive and checks the result against the manifest. */
  restore(layers: Layers, target: RestoreTarget, manifest: SourceManifest, ctx: JobContext): Promise<Check[]>;
  /** Reads the archive without writing anything and checks it against the manifest. */
  verify(layers: Layers, manifest: SourceManifest, ctx: JobContext): Promise<Check[]>;
}
