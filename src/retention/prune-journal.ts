import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import { dirname, join } from "node:path";
import { isBackupId } from "../repository/layout.js";

/**
 * The pruner's own record of the backups it has set out to delete, kept on its host (in state_dir),
 * where no writer can reach it. prune writes it before its first delete and removes it when the run
 * ends; a prune killed in between leaves it, and the next prune finishes deleting each backup it
 * names whose complete.json is gone (the deletion had started: complete.json goes first). A backup
 * whose complete.json is still there is left to retention to decide afresh. Nothing a writer stores
 * in the repository can add an id here, so no writer can make prune delete a good backup this way.
 */
export interface PruneJournal {
  /**
   * Ids a killed prune had started to delete (empty when the last prune ended), and when they were
   * recorded: an object stored later is not the killed prune's to finish. One read of the file.
   */
  pending(): Promise<{ ids: string[]; startedAt?: Date }>;
  /** Records the ids about to be deleted (durably: written, fsynced, renamed). */
  begin(ids: string[]): Promise<void>;
  /** The run ended: nothing is pending. */
  end(): Promise<void>;
}

const FORMAT = "strongbox/1 prune-intent";
/** A journal names at most what one prune deletes; more is not ours. */
const MAX_BYTES = 4 * 1024 * 1024;

/** The journal of one repository (named by its identity: URL and endpoint) under `stateDir`. */
export function pruneJournal(stateDir: string, repository: string): PruneJournal {
  const file = join(stateDir, "prune", `${createHash("sha256").update(repository).digest("hex").slice(0, 16)}.json`);
  /** The journal if it is ours (format, repository), else undefined. */
  async function read(): Promise<{ ids?: unknown; started_at?: unknown } | undefined> {
    let raw: string;
    try {
      const st = await fsp.stat(file);
      if (!st.isFile() || st.size > MAX_BYTES) return undefined;
      raw = await fsp.readFile(file, "utf8");
    } catch {
      return undefined;
    }
    try {
      const j = JSON.parse(raw);
      return j?.format === FORMAT && j.repository === repository ? j : undefined;
    } catch {
      return undefined;
    }
  }
  return {
    async pending() {
      const j = await read();
      const ids = Array.isArray(j?.ids)
        ? j.ids.filter((x: unknown): x is string => typeof x === "string" && isBackupId(x))
        : [];
      const t = Date.parse(String(j?.started_at));
      return Number.isFinite(t) ? { ids, startedAt: new Date(t) } : { ids };
    },
    async begin(ids) {
      await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${process.pid}.tmp`;
      const fh = await fsp.open(tmp, "w", 0o600);
      try {
        await fh.writeFile(JSON.stringify({ format: FORMAT, repository, started_at: new Date().toISOString(), ids }));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, file);
    },
    async end() {
      await fsp.rm(file, { force: true });
    },
  };
}
