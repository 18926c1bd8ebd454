import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";

const s3 = inject("s3");

describe.skipIf(!s3)("forged backups on Ceph RGW, read with the reader role", () => {
  it("a forger with the writer role and the public recipient cannot make restore write outside the target (exit 3)", async () => {
    const data = tempDir("s3forge");
    writeFileSync(join(data, "payload"), "owned\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
    const readerOnly = repo.write(
      (c) => (c.repository.s3.credentials = { reader: c.repository.s3.credentials.reader }),
    );
    const store = writerStore(repo);
    const good = await forgeBackup(store, repo.recipient, {
      files: { assets: data },
      started: new Date(Date.now() - 60_000),
    });
    const evil = await forgeBackup(store, repo.recipient, {
      files: { x: data },
      manifest: (m) => ((m.sources["../../x"] = m.sources.x), delete m.sources.x),
      complete: (c) => ((c.sources[0].name = "../../x"), (c.objects[0].source = "../../x")),
    });
    const root = tempDir("s3sentinel");
    mkdirSync(join(root, "a", "b"), { recursive: true });
    const r = await runCli(["-c", readerOnly, "restore", evil.id, "--to-dir", join(root, "a", "b", "out")]);
    expect(r.stderr).toMatch(/"\.\.\/\.\.\/x" is not a source name/);
    expect(r.code).toBe(3);
    expect(readdirSync(root)).toEqual(["a"]);
    expect(readdirSync(join(root, "a"))).toEqual(["b"]);
    expect(readdirSync(join(root, "a", "b"))).toEqual([]);

    const v = await runCli(["-c", readerOnly, "verify", "all"]);
    expect(v.stdout.split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^${evil.id}  FAILED: .*is not a source name`)),
      `${good.id}  OK`,
      "",
    ]);
    expect(v.code).toBe(3);
    const l = await runCli(["-c", readerOnly, "--json", "list"]);
    expect(JSON.parse(l.stdout)).toMatchObject([
      { id: evil.id, complete: false, damaged: expect.any(String) },
      { id: good.id, complete: true },
    ]);
    const ok = await runCli(["-c", readerOnly, "restore", "latest", "--to-dir", join(root, "a", "b", "out")]);
    expect(ok.stdout).toMatch(/assets → .*: restored and checked/);
    expect(ok.code).toBe(0);
    expect(readdirSync(join(root, "a", "b", "out"))).toEqual(["assets"]);
  });
});
