import { fileUrlPath, isFileUrl } from "../config/file-url.js";
import { createHash, randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, promises as fsp, readFileSync, realpathSync, unlinkSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { StrongboxError } from "../errors.js";
import { processAlive, processStart } from "../process-alive.js";

export interface LockInfo {
  pid: number;
  host: string;
  /** Tells a PID reused after a reboot from the holder itself. */
  boot: string;
  /** The holder's start time (processStart): tells a PID reused without a reboot from the holder. Absent in older records. */
  start?: string;
  command: string;
  since: string;
  repository: string;
  /** Unique per acquisition: a takeover names the exact stale lock it replaces. */
  token: string;
}

/** The lock is held by a run that is alive (or may be): a later attempt may get it. `holder` when its lock file was readable. */
export class LockHeldError extends StrongboxError {
  constructor(
    message: string,
    readonly holder?: LockInfo,
  ) {
    super("LOCKED", message);
  }
}

function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "";
  }
}

/** A holder is gone only when it ran on this host (same boot) and its PID no longer exists. */
export function holderGone(h: Pick<LockInfo, "pid" | "host" | "boot" | "start">): boolean {
  if (h.host !== hostname()) return false;
  const boot = bootId();
  if (h.boot && boot && h.boot !== boot) return true;
  if (!processAlive(h.pid)) return true;
  // Alive: the holder itself, unless that PID now belongs to a process started at another time.
  const now = h.start ? processStart(h.pid) : undefined;
  return now !== undefined && now !== h.start;
}

/** The longest existing ancestor resolved through symlinks, the rest appended as written. */
export function realish(path: string): string {
  const rest: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(p), ...rest.reverse());
    } catch {
      const parent = dirname(p);
      if (parent === p) return join(p, ...rest.reverse());
      rest.push(basename(p));
      p = parent;
    }
  }
}

/**
 * One name per repository, however its URL is spelled: trailing and doubled slashes, default ports,
 * host case, and symlinks in a file:// path do not make a second lock.
 */
export function repositoryIdentity(url: string, s3?: { endpoint?: string }): string {
  if (isFileUrl(url)) return `file://${realish(fileUrlPath(url))}`;
  const m = /^s3:\/\/([^/]+)\/*(.*)$/.exec(url);
  if (!m) return url;
  const prefix = m[2].split("/").filter(Boolean).join("/");
  let endpoint = "aws";
  if (s3?.endpoint) {
    try {
      const u = new URL(s3.endpoint);
      endpoint = `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, "")}`;
    } catch {
      endpoint = s3.endpoint;
    }
  }
  return `s3:${endpoint}/${m[1].toLowerCase()}/${prefix}`;
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where locks live when lock_dir is not set. Not $TMPDIR: systemd's PrivateTmp gives the daemon a
 * /tmp of its own, and a manual run would not see its lock. /run/strongbox as root, or when it
 * exists and is writable (systemd RuntimeDirectory=strongbox); else the user's state directory.
 */
export function defaultLockDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STRONGBOX_LOCK_DIR) {
    // Relative, runs started in different directories would take different locks (as lock_dir).
    if (!env.STRONGBOX_LOCK_DIR.startsWith("/"))
      throw new StrongboxError("CONFIG", `STRONGBOX_LOCK_DIR must be absolute: ${env.STRONGBOX_LOCK_DIR}`);
    return env.STRONGBOX_LOCK_DIR;
  }
  if (process.getuid?.() === 0 || writable("/run/strongbox")) return "/run/strongbox";
  const state = env.XDG_STATE_HOME
    ? join(env.XDG_STATE_HOME, "strongbox")
    : join(env.HOME || homedir(), ".local/state/strongbox");
  return join(state, "locks");
}

export function lockPath(identity: string, dir?: string): string {
  const h = createHash("sha256").update(identity).digest("hex").slice(0, 16);
  return join(dir ?? defaultLockDir(), `strongbox-${h}.lock`);
}

async function readLock(path: string): Promise<{ info?: LockInfo; mtime?: Date } | null> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(path, "utf8"), fsp.stat(path)]);
    try {
      const info = JSON.parse(text) as LockInfo;
      if (typeof info.pid === "number" && typeof info.host === "string" && typeof info.token === "string")
        return { info, mtime: st.mtime };
    } catch {
      // fall through: unreadable content
    }
    return { mtime: st.mtime };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new StrongboxError(
      "LOCKED",
      `lock held: cannot read the repository lock file ${path} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

/** Locks this process holds, released synchronously if it exits without unwinding (a forced exit). */
const held = new Map<string, string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [path, token] of held) {
      try {
        if ((JSON.parse(readFileSync(path, "utf8")) as LockInfo).token === token) unlinkSync(path);
      } catch {
        // gone already
      }
    }
  });
}

/** A lock file whose content cannot be read is left alone this long: only a crashed pre-1.x writer leaves one. */
const UNREADABLE_GRACE_MS = 60_000;

/**
 * One job per repository on this host at a time (scheduled or manual). The lock file is written in
 * full to a temporary name and then hard-linked into place, so nobody ever reads it empty. A lock
 * whose holder is gone (same host, PID dead or rebooted since) is replaced under a takeover marker
 * named after that exact lock, so two contenders can never both take it over.
 */
export async function acquireLock(identity: string, command: string, dir?: string): Promise<() => Promise<void>> {
  const path = lockPath(identity, dir);
  const lockDir = dirname(path);
  try {
    mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StrongboxError(
      "LOCKED",
      `cannot create the lock directory ${lockDir} (${(err as NodeJS.ErrnoException).code}); set lock_dir in the config`,
    );
  }
  const me: LockInfo = {
    pid: process.pid,
    host: hostname(),
    boot: bootId(),
    start: processStart(process.pid),
    command,
    since: new Date().toISOString(),
    repository: identity,
    token: randomBytes(8).toString("hex"),
  };
  const tmp = `${path}.${process.pid}.${me.token}.tmp`;
  // 0644: nothing secret in it, and a run as another user (root by hand, the daemon's user) must read who holds it.
  try {
    await fsp.writeFile(tmp, JSON.stringify(me), { mode: 0o644, flag: "wx" });
  } catch (err) {
    // A full disk leaves the file made but empty; nothing else would ever remove it (the sweep reads records).
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") await fsp.unlink(tmp).catch(() => {});
    throw new StrongboxError(
      "LOCKED",
      `cannot write in the lock directory ${lockDir} (${(err as NodeJS.ErrnoException).code}); set lock_dir in the config to a directory this user can write`,
    );
  }
  const release = async () => {
    held.delete(path);
    const cur = await readLock(path).catch(() => null);
    if (cur?.info?.token === me.token) await fsp.unlink(path).catch(() => {});
  };
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fsp.link(tmp, path);
        held.set(path, me.token);
        installExitHook();
        await sweepDeadTemps(path, me.token);
        return release;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST")
          throw new StrongboxError("LOCKED", `cannot create lock file ${path}: ${(err as NodeJS.ErrnoException).code}`);
      }
      const cur = await readLock(path);
      if (!cur) continue; // released meanwhile: try again
      if (cur.info && !holderGone(cur.info)) {
        const h = cur.info;
        throw new LockHeldError(
          `lock held: another strongbox run holds the repository lock (${h.command}, pid ${h.pid} on ${h.host}, since ${h.since}); lock file ${path}`,
          h,
        );
      }
      if (!cur.info && Date.now() - (cur.mtime?.getTime() ?? 0) < UNREADABLE_GRACE_MS) {
        throw new LockHeldError(
          `lock held: the repository lock file ${path} is unreadable and recent; if no strongbox runs, remove it`,
        );
      }
      await takeOver(path, tmp, cur.info?.token ?? `unreadable-${cur.mtime?.getTime()}`);
      const now = await readLock(path);
      if (now?.info?.token === me.token) {
        held.set(path, me.token);
        installExitHook();
        await sweepDeadTemps(path, me.token);
        return release;
      }
    }
    throw new LockHeldError(
      `lock held: could not take the repository lock ${path} (contended: another run is taking over its stale lock; a ${basename(path)}.takeover-* file there that stays names it)`,
    );
  } finally {
    await fsp.unlink(tmp).catch(() => {});
  }
}

/** Replaces the stale lock `staleToken` with ours, if we are the one contender that claims it. */
async function takeOver(path: string, tmp: string, staleToken: string): Promise<void> {
  const marker = `${path}.takeover-${staleToken}`;
  try {
    await fsp.link(tmp, marker);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // Another contender claims it, or one killed mid-takeover left its marker: that one is cleared.
    await clearDeadClaim(marker, tmp);
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 30));
    return;
  }
  try {
    const cur = await readLock(path);
    const curToken = cur ? (cur.info?.token ?? `unreadable-${cur.mtime?.getTime()}`) : undefined;
    // Only the exact stale lock is replaced; rename keeps the lock in place throughout.
    if (curToken === staleToken) await fsp.rename(tmp, path);
  } finally {
    await fsp.unlink(marker).catch(() => {});
  }
}

const recordToken = (r: { info?: LockInfo; mtime?: Date }) => r.info?.token ?? `unreadable-${r.mtime?.getTime()}`;

/**
 * Removes a claim file (a takeover marker: a hard link to its contender's own lock record) whose
 * contender is gone (same host, PID dead or reused), so a kill -9 in the middle of a takeover does not
 * lock the repository out; an unreadable one only after UNREADABLE_GRACE_MS. Clearing is itself
 * claimed (one clearer per dead record) and re-checked under that claim, so it never removes a live
 * contender's marker that replaced the dead one. A clear claim whose clearer is gone is removed the
 * same way, by its holder's liveness and not by its age, so a stalled (not dead) clearer keeps it.
 */
async function clearDeadClaim(claim: string, tmp: string): Promise<void> {
  const rec = await readLock(claim).catch(() => null);
  if (!rec || !recordDead(rec)) return;
  const token = recordToken(rec);
  const clearing = `${claim}.clear-${token}`;
  try {
    await fsp.link(tmp, clearing);
  } catch {
    const other = await readLock(clearing).catch(() => null);
    if (other && recordDead(other)) {
      // Its clearer died: remove that exact record (re-read just before) and let the next attempt clear.
      const again = await readLock(clearing).catch(() => null);
      if (again && recordToken(again) === recordToken(other)) await fsp.unlink(clearing).catch(() => {});
    }
    return;
  }
  try {
    const again = await readLock(claim).catch(() => null);
    if (again && recordToken(again) === token) await fsp.unlink(claim).catch(() => {});
  } finally {
    await fsp.unlink(clearing).catch(() => {});
  }
}

const recordDead = (r: { info?: LockInfo; mtime?: Date }) =>
  r.info ? holderGone(r.info) : Date.now() - (r.mtime?.getTime() ?? 0) > UNREADABLE_GRACE_MS;

/**
 * What killed runs left beside the lock, swept once this run holds it: temp records
 * (`<lock>.<pid>.<token>.tmp`), and takeover markers and clear claims (`<lock>.takeover-…`) of runs
 * that are gone. With the lock ours, a marker for any other token can no longer lead to a takeover
 * (takeOver renames only over the exact stale lock it names), so removing a dead one is safe.
 */
async function sweepDeadTemps(path: string, mine: string): Promise<void> {
  const dir = dirname(path);
  const prefix = `${basename(path)}.`;
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const rest = name.slice(prefix.length);
    const tmp = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(rest);
    const claim = /^takeover-([^/]+)$/.exec(rest);
    if (!tmp && !claim) continue;
    if (tmp && Number(tmp[1]) === process.pid) continue;
    if (claim && claim[1].startsWith(`${mine}.`)) continue;
    if (claim && claim[1] === mine) continue;
    const rec = await readLock(join(dir, name)).catch(() => null);
    if (!rec?.info || (tmp && rec.info.pid !== Number(tmp[1])) || !holderGone(rec.info)) continue;
    await fsp.unlink(join(dir, name)).catch(() => {});
  }
}
