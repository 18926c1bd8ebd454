import { promises as fsp } from "node:fs";
import { join } from "node:path";
import { hashFile } from "../codecs/hashing.js";
import { processAlive } from "../process-alive.js";
import { fsyncDir } from "../stores/local-dir.js";
import { parseWalKey, parseWalName } from "./names.js";

/**
 * The spool of asynchronous archiving, per cluster: `<state_dir>/wal-spool/<system id>/`. The worker
 * writes `<name>.ok` there only after the store confirmed the file (stored now or found stored); `wal
 * push` acknowledges its file only when that record names exactly the content it reads now.
 */
export interface SpoolRecord {
  name: string;
  /** SHA-256 of the plaintext stored, which the key also holds. */
  sha256: string;
  key: string;
  /** The repository's URL it was stored in: a record never acknowledges a file for another repository. */
  repository: string;
  size: number;
  /** The file's mtime when it was pushed: lets the worker skip a file it stored already (never an acknowledgement). */
  mtimeMs: number;
}

export const spoolDir = (stateDir: string, systemId: string) => join(stateDir, "wal-spool", systemId);

/**
 * Why the spool (and `wal-spool/` above it) cannot be trusted, if it cannot: its records make `wal push` exit 0,
 * so another account able to write them could have PostgreSQL drop WAL that was never stored.
 */
export async function untrustedSpool(spool: string): Promise<string | undefined> {
  const uid = process.getuid?.();
  for (const dir of [spool, join(spool, "..")]) {
    const st = await fsp.lstat(dir);
    const mode = st.mode & 0o777;
    if (!st.isDirectory()) return `${dir}: not a directory`;
    if (uid !== undefined && st.uid !== uid)
      return `${dir}: owned by uid ${st.uid}, not by this account (uid ${uid}): its records would not be trustworthy`;
    if (mode & 0o022)
      return `${dir}: writable by ${mode & 0o002 ? "everyone" : "its group"} (mode ${mode.toString(8)}): another account could forge its records; chmod 700 it`;
  }
  return undefined;
}
const recordFile = (dir: string, name: string) => join(dir, `${name}.ok`);
const errorFile = (dir: string, name: string) => join(dir, `${name}.error`);
const lockFile = (dir: string) => join(dir, "worker.lock");
export const spoolLog = (dir: string) => join(dir, "worker.log");

/** A record or an error line is a few hundred bytes; a larger file is not one of ours. */
const MAX_SMALL_FILE = 4096;

async function readSmall(file: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(file);
    if (!st.isFile() || st.size > MAX_SMALL_FILE) return undefined;
    return await fsp.readFile(file, "utf8");
  } catch {
    return undefined;
  }
}

/** Writes `file` whole or not at all: a temporary file beside it, fsynced, renamed, the directory fsynced. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const h = await fsp.open(tmp, "w", 0o600);
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(join(file, ".."));
}

export async function writeRecord(dir: string, r: SpoolRecord): Promise<void> {
  await writeAtomic(recordFile(dir, r.name), JSON.stringify(r) + "\n");
}

/** The record for `name`, if there is a well-formed one. */
export async function readRecord(dir: string, name: string): Promise<SpoolRecord | undefined> {
  const text = await readSmall(recordFile(dir, name));
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as Partial<SpoolRecord>;
    const ok =
      r.name === name &&
      typeof r.sha256 === "string" &&
      typeof r.key === "string" &&
      typeof r.repository === "string" &&
      typeof r.size === "number" &&
      typeof r.mtimeMs === "number";
    return ok ? (r as SpoolRecord) : undefined;
  } catch {
    return undefined; // half-written or foreign: no record
  }
}

/** Whether `r` says that exactly this content (`sha256`) of `name` is stored in `repository`: the key must say the same. */
export function acknowledges(r: SpoolRecord | undefined, name: string, sha256: string, repository: string): boolean {
  if (!r || r.name !== name || r.sha256 !== sha256 || r.repository !== repository) return false;
  const k = parseWalKey(r.key);
  return k !== null && k.wal.name === name && k.sha256 === sha256;
}

export const writeSpoolError = (dir: string, name: string, message: string) =>
  writeAtomic(errorFile(dir, name), message.replace(/\s+/g, " ").slice(0, 1000) + "\n");
export const readSpoolError = async (dir: string, name: string) => (await readSmall(errorFile(dir, name)))?.trim();
export const clearSpoolError = (dir: string, name: string) => fsp.rm(errorFile(dir, name), { force: true });
/** Removes the record of `name` (one that does not acknowledge the file as it is now: the worker stores it again). */
export const removeRecord = (dir: string, name: string) => fsp.rm(recordFile(dir, name), { force: true });
export const hasSpoolError = (dir: string, name: string) =>
  fsp.stat(errorFile(dir, name)).then(
    () => true,
    () => false,
  );

/** The SHA-256 (hex) of a file's content as it is now. */
export const fileSha256 = async (path: string): Promise<string> => (await hashFile(path, "sha256")).toString("hex");

/**
 * The WAL files PostgreSQL has marked ready (`archive_status/<name>.ready` beside them), in the order
 * it archives them: timeline history files first, then by name (which is WAL order). Read only.
 */
export async function readyFiles(walDir: string): Promise<string[]> {
  const names = await fsp.readdir(join(walDir, "archive_status")).catch(() => [] as string[]);
  const ready = names.flatMap((f) => {
    const name = f.endsWith(".ready") ? f.slice(0, -".ready".length) : "";
    return parseWalName(name) ? [name] : [];
  });
  const rank = (n: string) => (n.endsWith(".history") ? 0 : 1);
  return ready.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** Whether PostgreSQL has marked `name` ready in `walDir`. */
export const isReady = (walDir: string, name: string) =>
  fsp.stat(join(walDir, "archive_status", `${name}.ready`)).then(
    () => true,
    () => false,
  );

/**
 * Removes the records (and error lines) of segments before `segment` that are no longer marked ready in `walDir`
 * (PostgreSQL archived them and asks for them no more): the spool stays bounded.
 */
export async function pruneRecords(dir: string, segment: string, walDir: string): Promise<void> {
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    // A record, an error line, or a temporary file a killed worker left behind.
    const name = /^([0-9A-F]{24})\.(ok|error)(\.\d+\.tmp)?$/.exec(f)?.[1] ?? "";
    if (parseWalName(name)?.kind === "segment" && name < segment && !(await isReady(walDir, name)))
      await fsp.rm(join(dir, f), { force: true });
  }
}

/**
 * A worker refreshes its lock's mtime every few hundred milliseconds: a lock not refreshed for this long is
 * stale even when its pid is alive (the pid was reused by another process after a reboot or a kill -9).
 */
export const STALE_LOCK_MS = 30_000;

/** The pid of the live worker holding the spool's lock, if any (a lock left by a dead process, or not refreshed, is stale). */
export async function lockHolder(dir: string): Promise<number | undefined> {
  const fresh = await fsp.stat(lockFile(dir)).then(
    (st) => Date.now() - st.mtimeMs < STALE_LOCK_MS,
    () => false,
  );
  const pid = Number((await readSmall(lockFile(dir)))?.trim());
  return fresh && Number.isSafeInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
}

/** Marks the lock as still held (its mtime is now): see STALE_LOCK_MS. */
export async function refreshLock(dir: string): Promise<void> {
  const now = new Date();
  await fsp.utimes(lockFile(dir), now, now).catch(() => undefined);
}

/** Takes the worker's lock (create-only, with this pid); a stale one is removed first. false: a live worker holds it. */
export async function takeLock(dir: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(lockFile(dir), `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (await lockHolder(dir)) return false;
      await fsp.rm(lockFile(dir), { force: true });
    }
  }
  return false;
}

/** Releases the lock if this process holds it. */
export async function releaseLock(dir: string): Promise<void> {
  if (Number((await readSmall(lockFile(dir)))?.trim()) === process.pid) await fsp.rm(lockFile(dir), { force: true });
}
