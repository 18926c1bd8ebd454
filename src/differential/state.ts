import { createHash } from "node:crypto";
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { isBackupId } from "../repository/layout.js";
import { processAlive } from "../process-alive.js";

/**
 * One file or symlink of the last committed full, as the backup host saw it: enough to tell an
 * unchanged file (same type, size, mtime, ctime and inode) without reading it, and to list it in a
 * differential's manifest with its hash.
 */
export interface StateEntry {
  path: string;
  type: "file" | "symlink";
  size: number;
  mtime: string;
  ctime: string;
  ino: string;
  sha256?: string;
  target?: string;
}

/** The backup host's local state for one repository and files source (README, "Differential backups"). */
export interface FullState {
  format: typeof STATE_FORMAT;
  repository: string;
  recipients: string;
  source: string;
  path: string;
  full_id: string;
  full_started_at: string;
  /** The full's objects that the source's restore needs, so a differential can extend their Object Lock retention. */
  full_objects: { key: string }[];
  /** Bytes of file content in the full: a differential larger than half of it is written as a full. */
  bytes: number;
  entries: StateEntry[];
  /**
   * The full's directories: a path that changes between a directory and anything else makes the
   * next backup a full (GNU tar's hand restore cannot apply such a change safely).
   */
  dirs: string[];
}

/** strongbox-state/1 did not record directories: such a state means the next backup is a full. */
export const STATE_FORMAT = "strongbox-state/2";

/**
 * The default (README, "Config reference"): /var/lib/strongbox as root, else $XDG_STATE_HOME/strongbox or
 * ~/.local/state/strongbox. Under systemd, StateDirectory= (given as $STATE_DIRECTORY) comes first.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const systemd = env.STATE_DIRECTORY?.split(":")[0];
  if (systemd?.startsWith("/")) return systemd;
  if (typeof process.getuid === "function" && process.getuid() === 0) return "/var/lib/strongbox";
  if (env.XDG_STATE_HOME?.startsWith("/")) return join(env.XDG_STATE_HOME, "strongbox");
  return join(homedir(), ".local/state/strongbox");
}

/** Who the state belongs to: a state made for another repository or other recipients is never used. */
export interface StateOwner {
  stateDir: string;
  /** The repository's identity (URL and, for S3, the endpoint). */
  repository: string;
  recipients: string[];
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export function recipientsFingerprint(recipients: string[]): string {
  return sha256([...recipients].sort().join("\n"));
}

export function statePath(owner: StateOwner, source: string): string {
  return join(owner.stateDir, sha256(owner.repository).slice(0, 16), `${source}.json`);
}

/** What loading found: a usable state, or why the next backup of the source must be full. */
export type StateLoad = { state: FullState } | { state?: undefined; why: string };

const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isDigits = (v: unknown, max = 24) => typeof v === "string" && v.length <= max && /^\d+$/.test(v);

function entryProblem(e: StateEntry): string | undefined {
  if (!e || typeof e.path !== "string" || !e.path || e.path.startsWith("/")) return "an entry without a relative path";
  if (e.type !== "file" && e.type !== "symlink") return `${e.path}: type`;
  if (!isCount(e.size) || !isDigits(e.ctime) || !isDigits(e.ino)) return `${e.path}: size, ctime or inode`;
  if (typeof e.mtime !== "string" || !/^-?\d{1,12}(\.\d{1,9})?$/.test(e.mtime)) return `${e.path}: mtime`;
  if (e.type === "file" && !/^[0-9a-f]{64}$/.test(String(e.sha256))) return `${e.path}: sha256`;
  if (e.type === "symlink" && typeof e.target !== "string") return `${e.path}: target`;
  return undefined;
}

/**
 * Loads the state of one source. Anything unexpected (no file, unreadable, corrupt, another
 * repository, other recipients, another path) is a reason for a full backup, never an error.
 */
export function loadState(owner: StateOwner, source: string, path: string): StateLoad {
  const file = statePath(owner, source);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      why:
        code === "ENOENT"
          ? "no state of a previous full on this host"
          : `the state file ${file} cannot be read (${code})`,
    };
  }
  // "<sha256 of the body>\n<body>": a torn or altered file never passes for a state.
  const nl = text.indexOf("\n");
  const body = text.slice(nl + 1);
  if (nl !== 64 || text.slice(0, 64) !== sha256(body))
    return { why: `the state file ${file} is corrupt (checksum mismatch)` };
  let s: FullState;
  try {
    s = JSON.parse(body);
  } catch {
    return { why: `the state file ${file} is corrupt (not JSON)` };
  }
  if ((s as { format?: unknown } | null)?.format === "strongbox-state/1")
    return { why: `the state file ${file} was written by an older strongbox, which did not record directories` };
  if (!s || s.format !== STATE_FORMAT) return { why: `the state file ${file} has an unknown format` };
  if (s.repository !== owner.repository) return { why: "the state was made for another repository" };
  if (s.recipients !== recipientsFingerprint(owner.recipients))
    return { why: "the recipients changed since the last full" };
  if (s.source !== source || s.path !== path)
    return { why: `the source's path changed since the last full (was ${s.path})` };
  if (
    !isBackupId(s.full_id) ||
    Number.isNaN(Date.parse(s.full_started_at)) ||
    !isCount(s.bytes) ||
    !Array.isArray(s.entries) ||
    !Array.isArray(s.full_objects)
  ) {
    return { why: `the state file ${file} is malformed` };
  }
  if (
    !s.full_objects.every(
      (o) => typeof o?.key === "string" && o.key.startsWith(`backups/${s.full_id}/`) && !o.key.includes(".."),
    )
  ) {
    return { why: `the state file ${file} is malformed (full_objects)` };
  }
  if (!Array.isArray(s.dirs) || !s.dirs.every((d) => typeof d === "string" && d !== "" && !d.startsWith("/")))
    return { why: `the state file ${file} is malformed (dirs)` };
  for (const e of s.entries) {
    const problem = entryProblem(e);
    if (problem) return { why: `the state file ${file} is malformed (${problem})` };
  }
  return { state: s };
}

/**
 * Writes the state atomically: a 0600 temporary file, fsync, rename, fsync of the directory. Called
 * only after the full's complete.json is written, so a state never names an uncommitted full. A
 * write that fails (a full disk) removes its temporary file and leaves the state file as it was:
 * loadState reads only the renamed file, whole, and its checksum refuses a torn one.
 */
export function saveState(owner: StateOwner, state: Omit<FullState, "format" | "repository" | "recipients">): string {
  const file = statePath(owner, state.source);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  removeStaleTemps(file);
  const body = JSON.stringify({
    format: STATE_FORMAT,
    repository: owner.repository,
    recipients: recipientsFingerprint(owner.recipients),
    ...state,
  });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      const data = Buffer.from(`${sha256(body)}\n${body}`);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  const dirFd = openSync(dirname(file), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  return file;
}

/** Temporary files of `file` left by killed runs (their process is gone): never read, but they take the state directory's room. */
function removeStaleTemps(file: string): void {
  const prefix = `${basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(prefix) && name.endsWith(".tmp") ? Number(name.slice(prefix.length, -4)) : NaN;
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid))
      rmSync(join(dirname(file), name), { force: true });
  }
}
