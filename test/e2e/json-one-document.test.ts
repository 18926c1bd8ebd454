// Issue 22 item 16: with --json, stdout holds exactly one JSON document on every path (success,
// failure, usage error, config error, interrupt), and a failure is in that document:
// { ok: false, error: "<the one-line message>", error_code: "<code>", exit_code: <the exit code> }.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir, type CliResult, type TestRepo } from "../helpers/cli.js";

/** stdout parses as ONE document (JSON.parse fails on two); a failure carries the error and the exit code. */
function oneDocument(r: CliResult, label: string): any {
  let doc: any;
  try {
    doc = JSON.parse(r.stdout);
  } catch (err) {
    throw new Error(
      `${label}: stdout is not one JSON document (${(err as Error).message}):\n${r.stdout}\nstderr:\n${r.stderr}`,
    );
  }
  if (r.code !== 0) {
    expect(doc, label).toMatchObject({ ok: false, exit_code: r.code });
    expect(typeof doc.error, label).toBe("string");
    expect(doc.error.length, label).toBeGreaterThan(0);
    expect(typeof doc.error_code, label).toBe("string");
  }
  return doc;
}

let repo: TestRepo;
let corrupt: TestRepo;

beforeAll(async () => {
  const data = tempDir("json-data");
  writeFileSync(join(data, "f.txt"), "hello\n".repeat(1000));
  repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
  // A second repository whose only backup has one byte flipped in its data object (same size).
  corrupt = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  expect((await runCli(["-c", corrupt.configFile, "backup", "now"])).code).toBe(0);
  const root = join(corrupt.dir, "repository", "backups");
  const id = readdirSync(root)[0];
  const obj = join(
    root,
    id,
    readdirSync(join(root, id)).find((f) => f.startsWith("assets."))!,
  );
  const bytes = readFileSync(obj);
  bytes[bytes.length >> 1] ^= 0x40;
  writeFileSync(obj, bytes);
});

describe("--json: one document on stdout, whatever happens", () => {
  const cases: { name: string; args: () => string[]; code: number }[] = [
    { name: "usage: a missing argument", args: () => ["-c", repo.configFile, "--json", "restore"], code: 2 },
    {
      name: "usage: an unknown option",
      args: () => ["-c", repo.configFile, "--json", "list", "--no-such-flag"],
      code: 2,
    },
    { name: "usage: an unknown command", args: () => ["--json", "no-such-command"], code: 2 },
    { name: "config: no config file", args: () => ["-c", "/nonexistent/strongbox.yaml", "--json", "list"], code: 2 },
    {
      name: "config check: an invalid config",
      args: () => ["-c", repo.write((c) => (c.compression = "rar")), "--json", "config", "check"],
      code: 2,
    },
    { name: "init: a directory that holds a config already", args: () => ["--json", "init", repo.dir], code: 2 },
    { name: "keygen: --json without -o", args: () => ["--json", "keygen"], code: 2 },
    {
      name: "backup now: an unknown source",
      args: () => ["-c", repo.configFile, "--json", "backup", "now", "--source", "nope"],
      code: 2,
    },
    {
      name: "list: a repository that cannot be read",
      args: () => ["-c", repo.write((c) => (c.repository.url = `file://${repo.configFile}/x`)), "--json", "list"],
      code: 1,
    },
    { name: "restore: no target", args: () => ["-c", repo.configFile, "--json", "restore", "latest"], code: 2 },
    {
      name: "restore: a corrupt backup",
      args: () => ["-c", corrupt.configFile, "--json", "restore", "latest", "--to-dir", tempDir("json-to")],
      code: 3,
    },
    { name: "verify: a corrupt backup", args: () => ["-c", corrupt.configFile, "--json", "verify", "latest"], code: 3 },
    {
      name: "verify all: a corrupt backup",
      args: () => ["-c", corrupt.configFile, "--json", "verify", "all"],
      code: 3,
    },
    { name: "drill: a corrupt backup", args: () => ["-c", corrupt.configFile, "--json", "drill", "latest"], code: 3 },
    {
      name: "copy: an unusable destination",
      args: () => ["-c", repo.configFile, "--json", "copy", "latest", "--to", "/nonexistent/dest.yaml"],
      code: 2,
    },
    { name: "prune: no retention rule", args: () => ["-c", repo.configFile, "--json", "prune", "--dry-run"], code: 2 },
    {
      name: "prune: a repository that cannot be read",
      args: () => [
        "-c",
        repo.write((c) => ((c.repository.url = `file://${repo.configFile}/x`), (c.retention = { keep_last: 1 }))),
        "--json",
        "prune",
        "--dry-run",
      ],
      code: 1,
    },
    {
      name: "daemon: no such job",
      args: () => ["-c", repo.configFile, "--json", "daemon", "--schedule", writeSchedule(), "--once", "nope"],
      code: 2,
    },
    {
      name: "doctor: a failed check",
      args: () => ["-c", repo.write((c) => (c.sources[0].path = "/nonexistent/source")), "--json", "doctor"],
      code: 1,
    },
    { name: "policy: a file:// repository", args: () => ["-c", repo.configFile, "--json", "policy"], code: 2 },
  ];

  it.each(cases)("$name", async ({ name, args, code }) => {
    const r = await runCli(args());
    oneDocument(r, name);
    expect(r.code, `${name}\n${r.stderr}`).toBe(code);
    // The human line stays on stderr, once.
    expect(
      r.stderr.split("\n").filter((l) => l.startsWith("strongbox:")).length,
      `${name}\n${r.stderr}`,
    ).toBeLessThanOrEqual(1);
  });

  it("a failed verify keeps its per-backup verdicts in the one document, with the error beside them", async () => {
    const r = await runCli(["-c", corrupt.configFile, "--json", "verify", "latest"]);
    const doc = oneDocument(r, "verify");
    expect(doc.backups).toHaveLength(1);
    expect(doc.backups[0].ok).toBe(false);
    expect(doc.error).toMatch(/verification failed for 1 of 1 backup/);
  });

  it("success paths print one document too (list, verify, config check, daemon --once)", async () => {
    for (const args of [
      ["list"],
      ["verify", "latest"],
      ["config", "check"],
      ["daemon", "--schedule", writeSchedule(), "--once", "nightly"],
    ]) {
      const r = await runCli(["-c", repo.configFile, "--json", ...args]);
      expect(r.code, r.stderr).toBe(0);
      oneDocument(r, args.join(" "));
    }
  });
});

function writeSchedule(): string {
  const file = join(repo.dir, "schedule.yaml");
  writeFileSync(file, 'jobs:\n  - { name: nightly, command: verify, cron: "15 2 * * *" }\n');
  return file;
}

describe("--json when interrupted", () => {
  // A PostgreSQL "server" that accepts and never answers: pg_dump waits, so the backup is running when SIGTERM comes.
  let server: Server;
  let port = 0;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });

  it("SIGTERM during a backup: exit 143 and one document naming the interrupt", async () => {
    const r0 = makeRepo({ sources: [{ name: "db", type: "postgres", url: `postgres://u:p@127.0.0.1:${port}/db` }] });
    const child = spawn(process.execPath, [BIN, "-c", r0.configFile, "--json", "backup", "now"], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    const started = new Promise<void>((resolve) =>
      child.stderr.on("data", (d) => {
        stderr += d;
        if (/backup \S+ started/.test(stderr)) resolve();
      }),
    );
    const code = new Promise<number>((r) => child.on("close", (c) => r(c ?? -1)));
    await started;
    child.kill("SIGTERM");
    const r = { code: await code, stdout, stderr };
    expect(r.code, r.stderr).toBe(143);
    expect(oneDocument(r, "interrupt").error).toMatch(/interrupted by SIGTERM/);
  });
});
