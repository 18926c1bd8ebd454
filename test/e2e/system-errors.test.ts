// Issue 22 item 17: every system error (errno code) is one sentence naming what was being done and to
// what, with the code in parentheses: never a bare EPROTO, a raw "EACCES: permission denied, lstat …".
import { execSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { BIN, makeRepo, runCollect, tempDir, type CliResult } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const s3 = inject("s3");
const NOBODY = 65534;

function errorLine(r: CliResult): string {
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("strongbox:"));
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/(E[A-Z]+): \1:|\n\s+at /);
  return lines[0];
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe.skipIf(!s3)("S3 endpoints", () => {
  it("https against a plain-http endpoint: 'cannot connect to https://…: the endpoint does not speak TLS (EPROTO) — is it http?'", async () => {
    const repo = makeRepo({ sources: [{ name: "a", type: "files", path: tempDir("se") }], s3: s3! });
    const https = s3!.endpoint.replace(/^http:/, "https:");
    const cfg = repo.write((c) => {
      c.repository.s3.endpoint = https;
      c.repository.s3.retry = { attempts: 1 };
    });
    const r = await runCli(["-c", cfg, "list"]);
    expect(r.code).toBe(1);
    const url = https.replace(/\/$/, "").replace(/[.]/g, "\\.");
    expect(errorLine(r)).toMatch(
      new RegExp(`cannot connect to ${url}: the endpoint does not speak TLS \\(EPROTO\\) — is it http\\?`),
    );
  });

  it("a refused connection: 'cannot connect to http://127.0.0.1:PORT: connection refused (ECONNREFUSED)'", async () => {
    const port = await closedPort();
    const repo = makeRepo({ sources: [{ name: "a", type: "files", path: tempDir("se") }], s3: s3! });
    const cfg = repo.write((c) => {
      c.repository.s3.endpoint = `http://127.0.0.1:${port}`;
      c.repository.s3.retry = { attempts: 1 };
    });
    const r = await runCli(["-c", cfg, "list"]);
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(
      new RegExp(`cannot connect to http://127\\.0\\.0\\.1:${port}: connection refused \\(ECONNREFUSED\\)`),
    );
  });
});

describe.skipIf(process.getuid?.() !== 0)("restore targets", () => {
  it("an unwritable directory: 'cannot restore into DIR: permission denied (EACCES) …' naming the path", async () => {
    const data = tempDir("se-data");
    writeFileSync(join(data, "f.txt"), "x\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    // nobody may read the repository and its identity, but not write the target's parent.
    chmodSync(repo.dir, 0o755);
    execSync(`chmod -R a+rX '${join(repo.dir, "repository")}'`);
    chownSync(repo.identityFile, NOBODY, NOBODY);
    const parent = tempDir("se-target");
    chmodSync(parent, 0o755);
    mkdirSync(join(parent, "locked"), { mode: 0o555 });
    const to = join(parent, "locked", "out");
    const home = tempDir("se-home");
    chownSync(home, NOBODY, NOBODY);
    chmodSync(home, 0o755);
    const cfg = repo.write((c) => (c.lock_dir = home));
    const r = await runCollect(
      "runuser",
      ["-u", "nobody", "--", process.execPath, BIN, "-c", cfg, "restore", "latest", "--to-dir", to],
      {
        env: { PATH: process.env.PATH, HOME: home, TMPDIR: home },
      },
    );
    expect(r.code, r.stderr).toBe(1);
    const line = errorLine(r);
    expect(line).toMatch(
      new RegExp(`cannot restore into ${to}: permission denied \\(EACCES\\) \\w+ ${join(parent, "locked")}`),
    );
    expect(line).not.toMatch(/EACCES: permission denied, /);
  });
});
