import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import type { S3Fixture, S3User } from "./s3-fixture.js";

export const BIN = new URL("../../bin/strongbox", import.meta.url).pathname;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, collecting what it prints: the one spawn behind runCli and its variants. */
export function runCollect(
  file: string,
  args: string[],
  o: { env: NodeJS.ProcessEnv; cwd?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: o.cwd, env: o.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs the built CLI as a user would (npm test builds dist/ first). */
export function runCli(
  args: string[],
  o: { env?: NodeJS.ProcessEnv; cwd?: string; signalAfterMs?: number } = {},
): Promise<CliResult> {
  return runCollect(process.execPath, [BIN, ...args], {
    cwd: o.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, ...o.env },
  });
}

/** Every directory tempDir made in this test file; test/helpers/remove-temp-dirs.ts removes them after the file. */
import { tempDir } from "./temp-dir.js";

export { madeTempDirs, tempDir } from "./temp-dir.js";

export interface TestRepo {
  dir: string;
  configFile: string;
  identityFile: string;
  recipient: string;
  config: Record<string, any>;
  write(mutate?: (c: Record<string, any>) => void): string;
}

/** A config (written to a temp dir) with a fresh identity, for a file:// or s3:// repository. */
export function makeRepo(o: {
  sources: Record<string, unknown>[];
  s3?: S3Fixture;
  roles?: Partial<Record<"writer" | "reader" | "pruner", S3User>>;
  compression?: string;
  prefix?: string;
}): TestRepo {
  const dir = tempDir("repo");
  const id = generateIdentity();
  const identityFile = join(dir, "identity.txt");
  writeFileSync(identityFile, id.text, { mode: 0o600 });
  const repository: Record<string, unknown> = o.s3
    ? {
        url: `s3://${o.s3.bucket}/${o.prefix ?? `${o.s3.prefix}-${Math.random().toString(16).slice(2, 8)}`}`,
        s3: {
          endpoint: o.s3.endpoint,
          region: "us-east-1",
          force_path_style: true,
          credentials: Object.fromEntries(
            Object.entries(o.roles ?? { writer: o.s3.writer, reader: o.s3.reader, pruner: o.s3.pruner }).map(
              ([role, u]) => [role, { access_key_id: u!.accessKeyId, secret_access_key: u!.secretAccessKey }],
            ),
          ),
        },
      }
    : { url: `file://${join(dir, "repository")}` };
  const config: Record<string, any> = {
    version: 1,
    repository,
    encryption: { recipients: [id.recipient], identity_file: identityFile },
    compression: o.compression ?? "zstd",
    sources: o.sources,
  };
  const configFile = join(dir, "strongbox.yaml");
  const repo: TestRepo = {
    dir,
    configFile,
    identityFile,
    recipient: id.recipient,
    config,
    write(mutate) {
      const c = structuredClone(config);
      mutate?.(c);
      const file = mutate ? join(dir, `variant-${Math.random().toString(16).slice(2)}.yaml`) : configFile;
      writeFileSync(file, stringify(c));
      return file;
    },
  };
  repo.write();
  return repo;
}

/** Starts the CLI; `arm(kill)` decides when to SIGKILL it and returns its disarm; resolves with how it ended (60 s deadline). */
function runArmed(
  args: string[],
  env: NodeJS.ProcessEnv,
  arm: (kill: () => void) => () => void,
): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: "ignore",
    });
    let killed = false;
    const disarm = arm(() => (killed ||= child.kill("SIGKILL")));
    const deadline = setTimeout(() => reject(new Error(`strongbox ${args.join(" ")} did not end within 60 s`)), 60_000);
    child.on("close", (code) => {
      disarm();
      clearTimeout(deadline);
      resolve({ killed, code });
    });
  });
}

/**
 * Starts the CLI and SIGKILLs it as soon as `when()` is true (polled every 20 ms), so a test can
 * kill at a known point of the work rather than after a guessed time. `killed` is false when the
 * process ended before the condition held.
 */
export function runAndKillWhen(
  args: string[],
  when: () => boolean,
  env: NodeJS.ProcessEnv = {},
): Promise<{ killed: boolean; code: number | null }> {
  return runArmed(args, env, (kill) => {
    const poll = setInterval(() => when() && kill(), 20);
    return () => clearInterval(poll);
  });
}

/** Starts the CLI and SIGKILLs it after `ms` if it is still running. */
export function runAndKill(
  args: string[],
  ms: number,
  env: NodeJS.ProcessEnv = {},
): Promise<{ killed: boolean; code: number | null }> {
  return runArmed(args, env, (kill) => {
    const timer = setTimeout(kill, ms);
    return () => clearTimeout(timer);
  });
}
