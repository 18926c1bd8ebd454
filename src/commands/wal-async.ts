import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, promises as fsp } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { parseDuration } from "../config/duration.js";
import type { Config, PostgresClusterSourceConfig } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { controlSystemId, LONG_HEADER_BYTES, readSegmentHeader } from "../wal/header.js";
import { parseWalName } from "../wal/names.js";
import {
  acknowledges,
  clearSpoolError,
  fileSha256,
  lockHolder,
  pruneRecords,
  readRecord,
  readSpoolError,
  removeRecord,
  spoolDir,
  spoolLog,
  untrustedSpool,
} from "../wal/spool.js";

export type AsyncSettings = NonNullable<PostgresClusterSourceConfig["wal"]["async"]>;

/** The asynchronous archiving settings: those of the first postgres-cluster source that has them. */
export function asyncSettings(config: Config): AsyncSettings | undefined {
  for (const s of config.sources) if (s.type === "postgres-cluster" && s.wal.async) return s.wal.async;
  return undefined;
}

/** Which repository a spool record is for: its URL, and the S3 endpoint when one is set. */
export const repositoryId = (config: Config) =>
  config.repository.s3?.endpoint
    ? `${config.repository.url} at ${config.repository.s3.endpoint}`
    : config.repository.url;

/** The cluster a WAL file belongs to, as `wal push` finds it: --system-id, a segment's header, else pg_control. */
export async function systemIdOfFile(path: string, given: string | undefined): Promise<string | undefined> {
  if (given) return given;
  const w = parseWalName(basename(path));
  if (!w) return undefined;
  if (w.kind !== "segment" && w.kind !== "partial") return controlSystemId(".");
  const head = Buffer.alloc(LONG_HEADER_BYTES);
  const h = await fsp.open(path, "r");
  try {
    await h.read(head, 0, LONG_HEADER_BYTES, 0);
  } finally {
    await h.close();
  }
  return readSegmentHeader(head, w, path).systemId;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The worker's log is kept below this: it is started afresh when larger. */
const MAX_LOG = 1 << 20;

/** This strongbox, run again as the spool's worker: detached, its output to the spool's log, the same config and environment. */
async function startWorker(configFile: string, env: NodeJS.ProcessEnv, walDir: string, spool: string, sysid: string) {
  const log = spoolLog(spool);
  const size = (await fsp.stat(log).catch(() => undefined))?.size ?? 0;
  const fd = openSync(log, size > MAX_LOG ? "w" : "a", 0o600);
  try {
    const script = process.argv[1];
    const self = script && script !== process.execPath ? [resolve(script)] : [];
    const args = [...self, "-c", resolve(configFile), "wal", "push-worker", resolve(walDir), "--system-id", sysid];
    const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", fd, fd], env });
    child.on("error", () => undefined); // a failed start shows as no record: the wait ends with the log named
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

/** The last line of the worker's log (read from its last 4 KiB), without the program's prefix. */
async function lastLogLine(spool: string): Promise<string> {
  const h = await fsp.open(spoolLog(spool), "r").catch(() => undefined);
  if (!h) return "no log";
  try {
    const { size } = await h.stat();
    const buf = Buffer.alloc(Math.min(size, 4096));
    await h.read(buf, 0, buf.length, size - buf.length);
    const line = buf.toString("utf8").trim().split("\n").pop() ?? "";
    return line.replace(/^strongbox: (error: )?/, "").slice(0, 500) || "no message";
  } finally {
    await h.close();
  }
}

export interface AsyncPush {
  name: string;
  systemId: string;
  key: string;
  bytes: number;
  /** false: acknowledged at once from the spool (stored before); true: stored by the worker while this one waited. */
  stored: boolean;
}

/**
 * `wal push` with the spool: exits at once when the spool records exactly this content as stored;
 * otherwise makes sure a worker runs and waits (bounded) for its record. Never succeeds without a
 * record naming this file's SHA-256 as it reads now.
 */
export async function pushThroughSpool(
  configFile: string,
  env: NodeJS.ProcessEnv,
  stateDir: string,
  settings: AsyncSettings,
  repository: string,
  path: string,
  sysid: string,
): Promise<AsyncPush> {
  const name = basename(path);
  const spool = spoolDir(stateDir, sysid);
  await fsp.mkdir(spool, { recursive: true, mode: 0o700 });
  const untrusted = await untrustedSpool(spool);
  if (untrusted) throw new StrongboxError("CONFIG", untrusted);
  const sha256 = await fileSha256(path);
  const done = async (stored: boolean) => {
    const r = await readRecord(spool, name);
    if (!acknowledges(r, name, sha256, repository)) return undefined;
    if (parseWalName(name)?.kind === "segment") await pruneRecords(spool, name, dirname(path));
    return { name, systemId: sysid, key: r!.key, bytes: r!.size, stored };
  };
  const now = await done(false);
  if (now) return now;
  await clearSpoolError(spool, name); // asks a worker that failed on it to try again
  // A record that does not name these bytes (same size and mtime, other content) would keep the worker from storing them.
  await removeRecord(spool, name);
  const deadline = Date.now() + parseDuration(settings.timeout)!;
  let child: ChildProcess | undefined;
  for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
    if (!(await lockHolder(spool)) && (!child || child.exitCode !== null || child.signalCode !== null))
      child = await startWorker(configFile, env, dirname(path), spool, sysid);
    await sleep(wait);
    const ok = await done(true);
    if (ok) return ok;
    const failed = await readSpoolError(spool, name);
    if (failed) throw new StrongboxError("STORE", `${name}: the archiving worker could not store it: ${failed}`);
    // A worker that failed as a whole (not on this file) would only fail again: say why now, not at the timeout.
    if (child?.exitCode)
      throw new StrongboxError(
        "STORE",
        `${name}: the archiving worker exited with code ${child.exitCode}: ${await lastLogLine(spool)} (its log is ${spoolLog(spool)})`,
      );
    if (Date.now() > deadline)
      throw new StrongboxError(
        "STORE",
        `${name}: not stored by the archiving worker within ${settings.timeout} (wal.async.timeout); its log is ${spoolLog(spool)}`,
      );
  }
}
