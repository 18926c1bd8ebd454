import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { Transform, type Readable } from "node:stream";
import { StrongboxError } from "../../errors.js";
import { redact } from "../../secrets.js";
import { openBlockPipe } from "./block-pipe.js";
import { adoptGroup, inGroupDyingWithUs, terminate } from "./process-group.js";

/** What any process needs of the environment: where programs and home are, locale, time zone, temporary directory. */
export const PROCESS_BASICS = /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|TZ|TZDIR|TMPDIR|LC_[A-Z_]+)$/;

/**
 * What a child (pg_dump, pg_restore, pg_dumpall, psql) inherits of strongbox's environment: the
 * basics, libpq's own PG* variables (PGPASSWORD, PGPASSFILE, PGSSL*, PGSERVICE… as the operator set
 * them) and Kerberos' for GSSAPI. Nothing else: STRONGBOX_IDENTITY_PASSPHRASE, S3 keys, DATABASE_URL
 * and every other secret stay here.
 */
const LIBPQ = /^(PG[A-Z_]+|KRB5CCNAME|KRB5_CONFIG|KRB5_KTNAME|KRB5_CLIENT_KTNAME)$/;

/** The environment of a child: the inherited variables, then `extra` (the connection's PG* variables). */
export function childEnv(
  extra: Record<string, string> = {},
  from: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from))
    if (v !== undefined && (PROCESS_BASICS.test(k) || LIBPQ.test(k))) env[k] = v;
  return { ...env, ...extra };
}

/** Children still running, so an interrupted job can stop them before it cleans up. */
const live = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  live.add(child);
  child.once("close", () => live.delete(child));
}

export function killRunningChildren(): void {
  for (const c of live) terminate(c);
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Keeps the last `max` characters of a child's stderr, for error messages. */
function tail(child: ChildProcess, max = 8192): () => string {
  let buf = "";
  child.stderr?.on("data", (d: Buffer) => {
    buf = (buf + d.toString("utf8")).slice(-max);
  });
  return () => buf;
}

export function describeExit(tool: string, r: ChildResult): string {
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`;
  const lines = redact(r.stderr).trim().split("\n").filter(Boolean);
  const detail = lines.length ? `: ${lines.slice(-3).join(" | ")}` : "";
  return `${tool} ${how}${detail}`;
}

/**
 * Spawns a tool whose stdout is the data. The returned stream ends only after the process exited
 * successfully; a non-zero exit, a signal, or output without the expected magic bytes makes it
 * fail, so a broken dump can never be stored as complete. Destroying the stream kills the process.
 * `observe` sees every chunk, in order, before it is passed on (and must not keep it).
 */
export function spawnDataStream(
  tool: string,
  path: string,
  args: string[],
  env: Record<string, string>,
  o: { magic?: Buffer; observe?: (chunk: Buffer) => void } = {},
): Readable {
  // stdout into pooled blocks where a block pipe can be made (block-pipe.ts), else an ordinary pipe.
  const pipe = openBlockPipe();
  let child: ChildProcess;
  try {
    child = spawn(path, args, { env: childEnv(env), stdio: ["ignore", pipe ? pipe.writeFd : "pipe", "pipe"] });
  } finally {
    pipe?.closeWriteEnd(); // the child holds its own copy: its exit is the reader's end of file
  }
  const source = pipe ? pipe.readable : child.stdout!;
  track(child);
  const stderr = tail(child);
  const exited = new Promise<ChildResult>((resolve) => {
    child.on("error", (err) => resolve({ code: -1, signal: null, stderr: String(err.message) }));
    child.on("close", (code, signal) => resolve({ code, signal, stderr: stderr() }));
  });
  let seen = 0;
  let head = Buffer.alloc(0);
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (o.magic && head.length < o.magic.length) {
        head = Buffer.concat([head, chunk.subarray(0, o.magic.length - head.length)]);
        if (head.length === o.magic.length && !head.equals(o.magic))
          return cb(new StrongboxError("SOURCE", `${tool} output does not start with ${o.magic.toString("latin1")}`));
      }
      seen += chunk.length;
      o.observe?.(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      exited.then((r) => {
        if (r.code !== 0 || r.signal) return cb(new StrongboxError("SOURCE", describeExit(tool, r)));
        if (o.magic && seen < o.magic.length) return cb(new StrongboxError("SOURCE", `${tool} produced no output`));
        cb();
      }, cb);
    },
    destroy(err, cb) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      if (pipe) source.destroy();
      cb(err);
    },
  });
  source.on("error", (err) => out.destroy(err));
  source.pipe(out);
  return out;
}

/**
 * Where Linux's setpriv is at hand, a child gets SIGKILL the moment strongbox dies (PR_SET_PDEATHSIG):
 * a `kill -9` of strongbox must not leave a pg_restore that goes on unwatched and unchecked.
 */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));
function diesWithParent(path: string, args: string[]): [string, string[]] {
  return SETPRIV && process.platform === "linux"
    ? [SETPRIV, ["--pdeathsig", "KILL", "--", path, ...args]]
    : [path, args];
}

/**
 * Runs a tool feeding it `input` on stdin; resolves with its stdout, fails with a one-line error.
 * `fd` is handed to the child as its file descriptor 3 (e.g. an unlinked temporary file).
 * `group` (a tool that forks workers, without input): the tool and its workers die with strongbox (process-group.ts).
 */
export function runWithInput(
  tool: string,
  path: string,
  args: string[],
  env: Record<string, string>,
  input: Readable | null,
  o: { fd?: number; group?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const group = Boolean(o.group && !input && process.platform !== "win32");
    const [cmd, argv] = group ? inGroupDyingWithUs(path, args) : diesWithParent(path, args);
    const stdio: ("pipe" | "ignore" | number)[] = [input || group ? "pipe" : "ignore", "pipe", "pipe"];
    if (o.fd !== undefined) stdio.push(o.fd);
    const child = spawn(cmd, argv, { env: childEnv(env), stdio, detached: group });
    track(child);
    if (group) adoptGroup(child);
    const stderr = tail(child);
    let stdout = "";
    child.stdout!.on("data", (d: Buffer) => {
      if (stdout.length < 4 * 1024 * 1024) stdout += d.toString("utf8");
    });
    let inputError: Error | undefined;
    if (input) {
      const fail = (err: Error) => {
        inputError ??= err;
        terminate(child);
      };
      input.on("error", fail);
      child.stdin!.on("error", () => {}); // EPIPE when the tool exits early: its exit code tells why
      // The input may have failed before it was handed over (a corrupt object read ahead while the
      // database was being prepared): its error event is past, and piping it would feed the tool nothing, forever.
      if (input.errored) fail(input.errored);
      else if (input.destroyed && !input.readableEnded)
        fail(new StrongboxError("SOURCE", `${tool}: its input was closed before it was read`));
      else input.pipe(child.stdin!);
    }
    child.on("error", (err) => reject(new StrongboxError("SOURCE", `${tool}: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (inputError) return reject(inputError);
      if (code !== 0 || signal)
        return reject(new StrongboxError("SOURCE", describeExit(tool, { code, signal, stderr: stderr() })));
      resolve(stdout);
    });
  });
}
