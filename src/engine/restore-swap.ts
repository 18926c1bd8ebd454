import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import { basename, dirname, join } from "node:path";
import { StrongboxError } from "../errors.js";
import type { Logger } from "../log.js";
import { SOURCE_NAME } from "../repository/complete.js";
import { processAlive } from "../process-alive.js";
import { OLD_PREFIX, PARTIAL_PREFIX, removeAside, removeMarker, type Staging } from "./restore-target.js";

/**
 * Several sources restored into one directory are swapped in all or nothing (issue 21 item 6).
 * Every staging directory is complete and checked before the first swap. Then, before the first
 * rename, a journal is written into the target directory naming every source's staging directory
 * and the name its old tree is set aside as; it is rewritten after each swap (which sources are
 * still the old trees) and removed after the last. A run killed in between leaves the journal,
 * and the next restore into that directory finishes the swap (every staging directory is still
 * there: roll forward) or, when one has gone missing, puts every old tree back (roll back).
 *
 * The journal's name cannot be a source's name (those have no dot) and is not hidden: `ls` shows it.
 */
export const JOURNAL_NAME = "STRONGBOX-RESTORE-UNFINISHED.json";
/** Set only by tests: after each swap but the last, create this file and wait to be killed. Inert when unset. */
const PAUSE_ENV = "STRONGBOX_TEST_PAUSE_BETWEEN_SWAPS";

interface Entry {
  source: string;
  /** Names inside the target directory (never paths). */
  staging: string;
  aside: string;
  /** Whether a tree was there before (set aside, then deleted once every source is in place). */
  replaces: boolean;
}

interface Journal {
  note: string;
  format: "strongbox/1 restore-swap";
  backup: string;
  pid: number;
  started_at: string;
  /** Sources whose tree is still the one from before this restore (or absent, if there was none). */
  old: string[];
  entries: Entry[];
}

async function exists(p: string): Promise<boolean> {
  return (await fsp.lstat(p).catch(() => null)) !== null;
}

function describe(j: Pick<Journal, "backup" | "entries">, dir: string, old: string[]): string {
  const all = j.entries.map((e) => e.source);
  return (
    `strongbox: an unfinished restore of backup ${j.backup} into ${dir}: ${all.filter((s) => !old.includes(s)).join(", ") || "no source"} came from that backup, ` +
    `${old.join(", ") || "no source"} ${old.length === 1 ? "is" : "are"} still the old tree${old.length === 1 ? "" : "s"}. ` +
    "The next strongbox restore into this directory completes it (or undoes it); do not use this directory until then."
  );
}

async function writeJournal(dir: string, j: Journal): Promise<void> {
  const tmp = join(dir, `${PARTIAL_PREFIX}journal-${process.pid}-${randomBytes(4).toString("hex")}`);
  const fh = await fsp.open(tmp, "wx", 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ ...j, note: describe(j, dir, j.old) }, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, join(dir, JOURNAL_NAME));
}

async function pauseForTests(done: number): Promise<void> {
  const file = process.env[PAUSE_ENV];
  if (!file) return;
  await fsp.writeFile(file, `${done}\n`);
  await new Promise(() => {}); // until killed
}

/**
 * Swaps every checked staging directory into place, all or nothing as seen by the next restore.
 * One source is a single rename (restore-target.ts's commitStaging covers it); several get the journal.
 */
export async function commitAll(
  stagings: Staging[],
  backupId: string,
  commitOne: (s: Staging, log?: Logger) => Promise<void>,
  log?: Logger,
): Promise<void> {
  if (stagings.length <= 1) {
    for (const s of stagings) await commitOne(s, log);
    return;
  }
  const dir = dirname(stagings[0].target);
  if (stagings.some((s) => dirname(s.target) !== dir || dirname(s.dir) !== dir))
    throw new Error("restore targets are not in one directory");
  // Everything that can fail without changing the target, before the journal.
  for (const s of stagings) {
    const existing = await fsp.lstat(s.target).catch(() => null);
    if (existing && !existing.isDirectory())
      throw new StrongboxError("USAGE", `${s.target} exists and is not a directory`);
    await removeMarker(s);
    await fsp.chmod(s.dir, 0o755);
  }
  const entries: Entry[] = await Promise.all(
    stagings.map(async (s) => ({
      source: basename(s.target),
      staging: basename(s.dir),
      aside: `${OLD_PREFIX}${basename(s.target)}-${process.pid}-${randomBytes(4).toString("hex")}`,
      replaces: await exists(s.target),
    })),
  );
  const journal: Journal = {
    note: "",
    format: "strongbox/1 restore-swap",
    backup: backupId,
    pid: process.pid,
    started_at: new Date().toISOString(),
    old: entries.map((e) => e.source),
    entries,
  };
  await writeJournal(dir, journal);
  for (const [i, e] of entries.entries()) {
    await swapOne(dir, e);
    journal.old = entries.slice(i + 1).map((x) => x.source);
    if (i < entries.length - 1) {
      await writeJournal(dir, journal);
      await pauseForTests(i + 1);
    }
  }
  await fsp.unlink(join(dir, JOURNAL_NAME));
  for (const e of entries) await removeAside(join(dir, e.aside), log);
}

async function swapOne(dir: string, e: Entry): Promise<void> {
  const target = join(dir, e.source);
  if (await exists(target)) await fsp.rename(target, join(dir, e.aside));
  await fsp.rename(join(dir, e.staging), target);
}

/** Whether a killed restore's journal waits in `dir` (the restore checks emptiness again after recoverSwap). */
export async function swapPending(dir: string): Promise<boolean> {
  return exists(join(dir, JOURNAL_NAME));
}

function parseJournal(text: string, dir: string): Journal {
  const bad = (why: string) =>
    new StrongboxError(
      "USAGE",
      `${join(dir, JOURNAL_NAME)}: ${why}; it is not a journal strongbox wrote: look at the directory by hand, then remove the file`,
    );
  let j: Journal;
  try {
    j = JSON.parse(text);
  } catch {
    throw bad("not JSON");
  }
  const name = (v: unknown, prefix: string) =>
    typeof v === "string" && v.startsWith(prefix) && !v.includes("/") && v.length < 200 && v !== "." && v !== "..";
  if (
    !j ||
    j.format !== "strongbox/1 restore-swap" ||
    !Number.isSafeInteger(j.pid) ||
    typeof j.backup !== "string" ||
    !Array.isArray(j.entries) ||
    j.entries.length > 1000
  )
    throw bad("not a restore journal");
  for (const e of j.entries) {
    if (
      !e ||
      typeof e.source !== "string" ||
      !SOURCE_NAME.test(e.source) ||
      !name(e.staging, PARTIAL_PREFIX) ||
      !name(e.aside, OLD_PREFIX) ||
      typeof e.replaces !== "boolean"
    )
      throw bad("an entry names something other than a source, a staging or a set-aside directory");
  }
  return j;
}

/**
 * Finishes or undoes what a killed restore left half swapped in `dir` (a journal whose process is
 * gone). Called before the staging leftovers are swept, since the journal's staging directories
 * are what it rolls forward.
 */
export async function recoverSwap(dir: string, log: Logger): Promise<void> {
  const path = join(dir, JOURNAL_NAME);
  let text: string;
  try {
    text = await fsp.readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const j = parseJournal(text, dir);
  if (j.pid !== process.pid && processAlive(j.pid))
    throw new StrongboxError("USAGE", `${path}: a restore (pid ${j.pid}) is swapping trees into ${dir} right now`);
  const state = await Promise.all(
    j.entries.map(async (e) => ({
      e,
      staged: await exists(join(dir, e.staging)),
      target: await exists(join(dir, e.source)),
      aside: await exists(join(dir, e.aside)),
    })),
  );
  // Swapped in: its staging directory gone, a tree in place, and the old one (if any) set aside.
  const done = (s: (typeof state)[number]) => !s.staged && s.target && (s.aside || !s.e.replaces);
  const old = state.filter((s) => !done(s)).map((s) => s.e.source);
  // A source neither swapped in nor still staged lost its new tree: roll back.
  const forward = state.every((s) => s.staged || done(s));
  if (forward) {
    log.warn(
      `${describe(j, dir, old)} Completing it: swapping in ${old.join(", ") || "nothing more"} from backup ${j.backup}`,
    );
    for (const s of state) if (s.staged) await swapOne(dir, s.e);
  } else {
    log.warn(
      `${describe(j, dir, old)} A staging directory is missing, so it cannot be completed: putting every old tree back`,
    );
    for (const s of state) {
      const target = join(dir, s.e.source);
      if (done(s)) await fsp.rm(target, { recursive: true, force: true }); // the new tree
      if (s.aside) {
        await fsp.rm(target, { recursive: true, force: true });
        await fsp.rename(join(dir, s.e.aside), target);
      }
      await fsp.rm(join(dir, s.e.staging), { recursive: true, force: true });
    }
  }
  await fsp.unlink(path);
  for (const s of state) await removeAside(join(dir, s.e.aside), log);
}
