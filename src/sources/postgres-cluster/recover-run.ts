import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, promises as fsp } from "node:fs";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { StrongboxError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { makeScratch, removeScratch, runDirParent, sweepKilledScratch } from "../../scratch-space.js";
import { PROCESS_BASICS } from "../postgres/child-stream.js";
import { findPgTool } from "../postgres/tools.js";

/** Where a recovery run stopped: the last replayed WAL record and transaction, and how the server ended up. */
export interface RecoveryPoint {
  /** pg_last_wal_replay_lsn(): the last WAL record replayed (null when none was). */
  lsn: string | null;
  /** pg_last_xact_replay_timestamp() in UTC, ISO 8601 (null when no transaction was replayed). */
  time: string | null;
  /** "promoted" (recovery ended, the server left it) or "paused" (held at the target, still in recovery). */
  state: "promoted" | "paused";
}

export interface RecoveryRunOptions {
  /** A restored data directory (restore --source cluster --to-dir), with recovery.signal and its settings. */
  dataDir: string;
  /** The cluster's major version (the manifest's server_version): the server binary must be this one. */
  major: number;
  pgBinDir?: string;
  /** Overrides recovery_target_action ("pause" holds the server at the target, so nothing is promoted). */
  targetAction?: "promote" | "pause";
  /** How long recovery may take before the run gives up. */
  timeoutMs: number;
  /** The role the checks connect as, over the private socket (trust): the cluster's superuser. */
  user?: string;
  log: Logger;
  signal?: AbortSignal;
  /**
   * The environment the server (and so its restore_command, `strongbox wal fetch`) gets: recoveryEnv().
   * Default: recoveryEnv([]), the basics and strongbox's own STRONGBOX_* variables.
   */
  env?: Record<string, string>;
}

/** The outbound proxy (HTTPS_PROXY and the rest, either case) through which strongbox reaches S3. */
const PROXY = /^((HTTPS?|NO)_PROXY|(https?|no)_proxy)$/;

/**
 * The throwaway server's environment: the basics (PROCESS_BASICS), the proxy, strongbox's STRONGBOX_* variables and the variables
 * the config names where a reader's run reads them (`names`: configEnvNames with readerOnly), which
 * the restore_command (`strongbox wal fetch` with the same config) needs; no other variable of
 * strongbox's environment (the writer's or pruner's keys, a source's URL, libpq's PG* settings for
 * the production server) reaches PostgreSQL or its children.
 */
export function recoveryEnv(names: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from))
    if (v !== undefined && (PROCESS_BASICS.test(k) || PROXY.test(k) || k.startsWith("STRONGBOX_") || names.includes(k)))
      env[k] = v;
  return env;
}

export interface RecoveredServer {
  point: RecoveryPoint;
  /** A connection URL to one database of the running server, over its private socket. */
  url(database?: string): string;
}

const LOG_TAIL = 16 * 1024;
const STOP_MS = 60_000;

/** The `postgres` server binary of exactly `major`: pg_bin_dir, else Debian's /usr/lib/postgresql/<major>/bin, else PATH. */
export async function serverBinary(major: number, pgBinDir?: string): Promise<string> {
  const debian = `/usr/lib/postgresql/${major}/bin`;
  const dir = pgBinDir ?? (existsSync(join(debian, "postgres")) ? debian : undefined);
  const tool = await findPgTool("postgres", major, dir);
  if (tool.major !== major)
    throw new StrongboxError(
      "SOURCE",
      `the cluster is PostgreSQL ${major}, but the server binary found is ${tool.path} ${tool.version}: install postgresql-${major} or point pg_bin_dir at its bin directory`,
    );
  return tool.path;
}

/** A TCP port nothing listens on now (the server itself listens only on its private socket). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The account that owns the data directory; as root the server runs as it (PostgreSQL refuses root). */
async function ownerOf(dataDir: string): Promise<{ uid: number; gid: number; name?: string }> {
  const st = await fsp.stat(dataDir);
  if (process.getuid?.() !== 0) return { uid: st.uid, gid: st.gid };
  const passwd = await fsp.readFile("/etc/passwd", "utf8").catch(() => "");
  const name = passwd
    .split("\n")
    .map((l) => l.split(":"))
    .find((f) => Number(f[2]) === st.uid)?.[0];
  if (st.uid === 0 || !name)
    throw new StrongboxError(
      "SOURCE",
      `${dataDir} belongs to ${st.uid === 0 ? "root" : `uid ${st.uid}, which has no account here`}: PostgreSQL cannot run on it (chown it to the postgres account)`,
    );
  return { uid: st.uid, gid: st.gid, name };
}

/**
 * The command line of the throwaway server: the restored settings, but never archiving, never
 * streaming from a primary, no TCP listener, its socket and access rules in the private run directory.
 */
async function serverArgs(
  o: RecoveryRunOptions,
  runDir: string,
  port: number,
  owner: { uid: number; gid: number; name?: string },
): Promise<string[]> {
  // The run directory is still this process's own: "wx" creates each file, never writes through a name
  // that exists; each is then given to the server's account by name, and the directory last.
  const files: string[] = [];
  const write = async (name: string, text: string) => {
    const path = join(runDir, name);
    await fsp.writeFile(path, text, { mode: 0o600, flag: "wx" });
    files.push(path);
    return path;
  };
  const hba = await write("pg_hba.conf", "local all all trust\n");
  const args = ["-D", o.dataDir];
  // Debian keeps postgresql.conf under /etc: the base backup has none, and the defaults do for a recovery.
  if (!existsSync(join(o.dataDir, "postgresql.conf")))
    args.push("-c", `config_file=${await write("postgresql.conf", "")}`);
  if (owner.name) {
    for (const f of files) await fsp.lchown(f, owner.uid, owner.gid);
    await fsp.lchown(runDir, owner.uid, owner.gid);
  }
  const settings = {
    port: String(port),
    listen_addresses: "",
    unix_socket_directories: runDir,
    unix_socket_permissions: "0700",
    hba_file: hba,
    archive_mode: "off",
    archive_command: "",
    // Commands a restored configuration may hold (a standby's pg_archivecleanup): none runs here.
    archive_cleanup_command: "",
    recovery_end_command: "",
    primary_conninfo: "",
    primary_slot_name: "",
    hot_standby: "on",
    ssl: "off",
    logging_collector: "off",
    log_destination: "stderr",
    ...(o.targetAction ? { recovery_target_action: o.targetAction } : {}),
  };
  for (const [k, v] of Object.entries(settings)) args.push("-c", `${k}=${v}`);
  return args;
}

/**
 * The server's command line: through setpriv (util-linux), which as root switches to the data
 * directory's owner, and always asks the kernel to send the server SIGQUIT (immediate shutdown) when
 * this process dies, so that a strongbox killed outright (no cleanup runs) leaves no server behind.
 * Without setpriv (not Linux), as before: the server directly, as this user.
 */
export function serverCommand(binary: string, args: string[], owner: { uid: number; gid: number; name?: string }) {
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
  if (!setpriv) {
    if (owner.name) throw new StrongboxError("SOURCE", "setpriv (util-linux) is needed to run PostgreSQL as its owner");
    return { cmd: binary, argv: args };
  }
  const user = owner.name ? [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--init-groups"] : [];
  return { cmd: setpriv, argv: [...user, "--pdeathsig", "SIGQUIT", "--", binary, ...args] };
}

/** Starts the server as the data directory's owner; its output is kept as a bounded tail for errors. */
function spawnServer(
  binary: string,
  args: string[],
  owner: { uid: number; gid: number; name?: string },
  env: Record<string, string>,
): { child: ChildProcess; tail: () => string } {
  const { cmd, argv } = serverCommand(binary, args, owner);
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"], env });
  let buf = "";
  const keep = (d: Buffer) => (buf = (buf + d.toString("utf8")).slice(-LOG_TAIL));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  child.on("error", (err) => keep(Buffer.from(`${err.message}\n`)));
  return { child, tail: () => oneLine(buf) };
}

/** The log's last lines on one line (an error is one line): " | " between them, tabs as spaces, other control characters as U+FFFD. */
function oneLine(log: string): string {
  return log
    .trim()
    .split(/\r?\n/)
    .slice(-20)
    .map((l) =>
      l
        .replace(/\t/g, " ")
        .replace(/[\u0000-\u001f\u007f-\u009f]/g, "\ufffd")
        .trim(),
    )
    .join(" | ");
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("close", () => resolve());
  });
}

/** Fast shutdown (SIGINT to the postmaster), then immediate (SIGQUIT), then SIGKILL, each with a deadline. */
async function stopServer(child: ChildProcess, dataDir: string): Promise<void> {
  const gone = exited(child);
  const pid = Number((await fsp.readFile(join(dataDir, "postmaster.pid"), "utf8").catch(() => "")).split("\n")[0]);
  for (const sig of ["SIGINT", "SIGQUIT", "SIGKILL"] as const) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      if (pid > 0) process.kill(pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
    if (sig === "SIGKILL") child.kill("SIGKILL");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_MS / 3)));
    const done = await Promise.race([gone.then(() => true), late]);
    clearTimeout(timer);
    if (done) return;
  }
  await gone;
}

const STATE_SQL = `SELECT pg_is_in_recovery() AS r,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
  pg_last_wal_replay_lsn()::text AS lsn,
  to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time`;

/**
 * Errors of a poll that mean "ask again": the server is starting or replaying up to a consistent state,
 * or it dropped the connection because it is going down (its exit is then reported by the next poll,
 * with its log: a recovery that stops on a WAL segment it could not fetch ends this way).
 */
export function pollAgain(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    ["57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOENT"].includes(e.code ?? "") ||
    /starting up|not yet accepting|shutting down|Connection terminated unexpectedly/.test(e.message ?? "")
  );
}

/** Polls the server until recovery is over (promoted) or held at its target (paused); the server's exit fails the run. */
async function waitForTarget(
  o: RecoveryRunOptions,
  url: string,
  child: ChildProcess,
  tail: () => string,
): Promise<RecoveryPoint> {
  const { default: driver } = await import("pg");
  const deadline = Date.now() + o.timeoutMs;
  let delay = 100;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new StrongboxError(
        "SOURCE",
        `the recovering PostgreSQL server stopped (${child.exitCode !== null ? `exit code ${child.exitCode}` : child.signalCode}) before reaching its target; its log ends: ${tail()}`,
      );
    if (o.signal?.aborted) throw o.signal.reason;
    if (Date.now() > deadline)
      throw new StrongboxError(
        "SOURCE",
        `recovery did not reach its target within ${Math.round(o.timeoutMs / 1000)} s; the server's log ends: ${tail()}`,
      );
    const client: pg.Client = new driver.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      const [s] = (await client.query(STATE_SQL)).rows as {
        r: boolean;
        paused: boolean;
        lsn: string | null;
        time: string | null;
      }[];
      if (!s.r || s.paused) return { lsn: s.lsn, time: s.time, state: s.r ? "paused" : "promoted" };
    } catch (err) {
      if (!pollAgain(err))
        throw new StrongboxError(
          "SOURCE",
          `the recovering PostgreSQL server: ${(err as Error).message}; its log ends: ${tail()}`,
        );
    } finally {
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
}

/**
 * The server's private directory (socket, access file): `top` is scratch space (scratch-space.ts)
 * under /tmp, and the server's files go in `dir` inside it. Run as root for another account, `top`
 * stays root's (0711, so the account can reach `dir`) and only `dir` becomes the account's (0700),
 * after root has written its files: the account cannot rename or replace anything in `top`, nor
 * plant a name in `dir` that root then writes through, and the tree is locked before it is removed.
 */
async function privateRunDir(owner: {
  uid: number;
  gid: number;
  name?: string;
}): Promise<{ top: string; dir: string }> {
  const top = await makeScratch("strongbox-pgrun-", runDirParent());
  const dir = join(top, "s");
  await fsp.mkdir(dir, { mode: 0o700 });
  if (owner.name) await fsp.chmod(top, 0o711); // `dir` becomes the account's once its files are written (serverArgs)
  return { top, dir };
}

/**
 * Starts a throwaway server of the cluster's major version on a restored data directory, waits until
 * recovery reaches its target (promoted, or paused there), hands the running server to `use` (checks
 * run then), and stops it cleanly however that ends. It never archives and listens on no TCP port.
 * First removes what killed runs left (scratch-space.ts).
 */
export async function withRecoveredServer<T>(
  o: RecoveryRunOptions,
  use: (server: RecoveredServer) => Promise<T>,
): Promise<{ point: RecoveryPoint; result: T }> {
  const binary = await serverBinary(o.major, o.pgBinDir);
  const owner = await ownerOf(o.dataDir);
  await sweepKilledScratch(o.log);
  const runDir = await privateRunDir(owner);
  try {
    return await runServer(o, binary, owner, runDir.dir, use);
  } finally {
    // A failure here must not hide how the recovery went: the next sweep tries again.
    await removeScratch(runDir.top).catch((err) =>
      o.log.warn(`cannot remove the recovery server's run directory ${runDir.top}: ${(err as Error).message}`),
    );
  }
}

async function runServer<T>(
  o: RecoveryRunOptions,
  binary: string,
  owner: { uid: number; gid: number; name?: string },
  runDir: string,
  use: (server: RecoveredServer) => Promise<T>,
): Promise<{ point: RecoveryPoint; result: T }> {
  const port = await freePort();
  const args = await serverArgs(o, runDir, port, owner);
  // initdb names the bootstrap superuser after the account that ran it.
  const user = o.user ?? owner.name ?? userInfo().username;
  const url = (db = "postgres") =>
    `postgresql://${encodeURIComponent(user)}@localhost:${port}/${encodeURIComponent(db)}?host=${encodeURIComponent(runDir)}`;
  o.log.info(
    `starting a throwaway PostgreSQL ${o.major} on ${o.dataDir} (socket in ${runDir}, port ${port}) to recover`,
  );
  const { child, tail } = spawnServer(binary, args, owner, o.env ?? recoveryEnv([]));
  const onAbort = () => void stopServer(child, o.dataDir);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const point = await waitForTarget(o, url(), child, tail);
    o.log.info(
      `recovery ${point.state === "paused" ? "paused at its target" : "ended"}: replayed to ${point.lsn ?? "nothing"} (${point.time ?? "no transaction"})`,
    );
    return { point, result: await use({ point, url }) };
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
    await stopServer(child, o.dataDir);
  }
}
