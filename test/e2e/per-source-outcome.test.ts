// Issue 21, "Per-source outcome": one source failing (a database outage) no longer skips the others.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startReceiver } from "../helpers/http-receiver.js";
import { createDb, withClient } from "../helpers/pg.js";
import { snapshotTree } from "../helpers/tree.js";

const pg = inject("pg");

describe.skipIf(!pg)("a database outage", () => {
  it(
    "backup now exits 1, the file sources are committed, and the output, JSON and notifications name the failed source",
    { timeout: 120_000 },
    async () => {
      const docs = tempDir("outage-docs");
      writeFileSync(join(docs, "a.txt"), "alpha");
      const media = tempDir("outage-media");
      writeFileSync(join(media, "b.bin"), Buffer.alloc(70_000, 7));
      const hook = await startReceiver();
      const hc = await startReceiver();
      try {
        // port 9 (discard) is closed: the database is down
        const repo = makeRepo({
          sources: [
            { name: "docs", type: "files", path: docs },
            { name: "db", type: "postgres", url: `postgres://postgres:x@127.0.0.1:9/postgres` },
            { name: "media", type: "files", path: media },
          ],
        });
        const config = repo.write((c) => {
          c.notify = [
            { type: "webhook", url: `${hook.url}/hook` },
            { type: "healthchecks", url: `${hc.url}/ping` },
          ];
        });
        const r = await runCli(["-c", config, "--json", "backup", "now"]);
        expect(r.code).toBe(1);
        // one JSON document on stdout: the result, with the failure in it
        const out = JSON.parse(r.stdout);
        expect(out.exit_code).toBe(1);
        expect(out.failed).toEqual([
          {
            name: "db",
            error: expect.stringMatching(/cannot connect to postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:9\/postgres/),
          },
        ]);
        expect(out.sources.map((s: { name: string }) => s.name)).toEqual(["docs", "media"]);
        expect(out.error).toMatch(new RegExp(`^backup ${out.id} committed without the failed source\\(s\\) db \\(`));
        expect(r.stderr).toMatch(/strongbox: error: backup \S+ committed without the failed source\(s\) db/);

        const complete = JSON.parse(
          readFileSync(join(repo.dir, "repository/backups", out.id, "complete.json"), "utf8"),
        );
        expect(complete.sources).toEqual([
          { name: "docs", type: "files" },
          { name: "media", type: "files" },
        ]);
        expect(complete.partial).toBeUndefined();

        const webhook = JSON.parse(hook.calls.find((c) => c.path === "/hook")!.body);
        expect(webhook).toMatchObject({ status: "failure", backup_id: out.id });
        expect(webhook.report.failed_sources).toEqual([{ name: "db", error: expect.stringMatching(/ECONNREFUSED/) }]);
        expect(hc.calls.find((c) => c.path === "/ping/fail")?.body).toMatch(
          /committed without the failed source\(s\) db .*stored: docs .*media/,
        );

        // a normal complete backup of the sources it holds: list, verify and restore take it as it is
        const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
        expect(
          list.map((b: { id: string; complete: boolean; sources: string[] }) => [b.id, b.complete, b.sources]),
        ).toEqual([[out.id, true, ["docs", "media"]]]);
        expect((await runCli(["-c", repo.configFile, "verify", out.id])).code).toBe(0);
        const to = tempDir("outage-to");
        const restored = await runCli(["-c", repo.configFile, "restore", out.id, "--to-dir", to]);
        expect(restored.code).toBe(0);
        expect(readdirSync(to).sort()).toEqual(["docs", "media"]);
        expect(snapshotTree(join(to, "media"))).toEqual(snapshotTree(media));
      } finally {
        await hook.close();
        await hc.close();
      }
    },
  );

  it("every source failing commits nothing: exit 1 with the first failure, as before", async () => {
    const repo = makeRepo({
      sources: [
        { name: "db", type: "postgres", url: `postgres://postgres:x@127.0.0.1:9/postgres` },
        { name: "gone", type: "files", path: "/nonexistent/strongbox-test" },
      ],
    });
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      ok: false,
      exit_code: 1,
      error: expect.stringMatching(/source db: cannot connect/),
    });
    let ids: string[] = [];
    try {
      ids = readdirSync(join(repo.dir, "repository/backups"));
    } catch {
      // no backups directory: nothing was stored
    }
    for (const id of ids) expect(readdirSync(join(repo.dir, "repository/backups", id))).not.toContain("complete.json");
  });

  it(
    "the next run with the database back stores it; the database's backup is the older one's until then",
    { timeout: 60_000 },
    async () => {
      const docs = tempDir("outage2-docs");
      writeFileSync(join(docs, "a.txt"), "alpha");
      const db = await createDb(pg!, "outage");
      await withClient(db.url, (c) => c.query("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50) g"));
      const repo = makeRepo({
        sources: [
          { name: "docs", type: "files", path: docs },
          { name: "db", type: "postgres", url: db.url },
        ],
      });
      const good = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
      expect(good.code).toBe(0);
      const down = repo.write((c) => (c.sources[1].url = "postgres://postgres:x@127.0.0.1:9/postgres"));
      const bad = await runCli(["-c", down, "--json", "backup", "now"]);
      expect(bad.code).toBe(1);
      const list = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout) as {
        id: string;
        sources: string[];
      }[];
      expect(list.find((b) => b.id === JSON.parse(good.stdout).id)?.sources).toEqual(["docs", "db"]);
      expect(list.find((b) => b.id === JSON.parse(bad.stdout).id)?.sources).toEqual(["docs"]);
      // the older backup still restores the database
      const target = await createDb(pg!, "outage_to");
      const r = await runCli([
        "-c",
        repo.configFile,
        "restore",
        JSON.parse(good.stdout).id,
        "--source",
        "db",
        "--to-db",
        target.url,
      ]);
      expect(r.code).toBe(0);
      expect((await withClient(target.url, (c) => c.query("SELECT count(*)::int AS n FROM t"))).rows[0].n).toBe(50);
    },
  );
});
