// copy opens two repositories in one run: an error of either names that repository's own S3 endpoint,
// not the one opened last (each store keeps its endpoint; no module-wide "the endpoint of this run").
import { createServer } from "node:net";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const s3 = inject("s3");

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** An S3 config (writer and reader roles) whose endpoint is `endpoint`. */
function s3Repo(endpoint: string): string {
  const repo = makeRepo({ sources: [{ name: "a", type: "files", path: tempDir("ce") }], s3: s3! });
  return repo.write((c) => {
    c.repository.s3.endpoint = endpoint;
    c.repository.s3.retry = { attempts: 1 };
  });
}

function errorLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l.startsWith("strongbox:"));
  expect(lines, stderr).toHaveLength(1);
  return lines[0];
}

describe.skipIf(!s3)("copy between two S3 endpoints", () => {
  it("a dead source endpoint is named, not the live destination opened after it", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const r = await runCli(["-c", s3Repo(dead), "copy", "all", "--to", s3Repo(s3!.endpoint)]);
    expect(r.code).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toContain(`cannot connect to ${dead}: connection refused (ECONNREFUSED)`);
    expect(line).not.toContain(s3!.endpoint.replace(/\/$/, ""));
  });

  it("a dead destination endpoint is named, not the live source", async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const r = await runCli(["-c", s3Repo(s3!.endpoint), "copy", "all", "--to", s3Repo(dead)]);
    expect(r.code).toBe(1);
    const line = errorLine(r.stderr);
    expect(line).toContain(`cannot connect to ${dead}: connection refused (ECONNREFUSED)`);
    expect(line).not.toContain(s3!.endpoint.replace(/\/$/, ""));
  });
});
