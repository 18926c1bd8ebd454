// copy, from an audit of its honesty: a destination that is the source through a symlink, a copy at
// the destination that lost its signature, `copy latest` when the newest backup holds only some
// sources, and a target that fails before any work (a job's failure must be audited like any other).
import { readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { secondApart } from "../helpers/backup-clock.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";

describe("copy", () => {
  it("to the source repository through a symlink: refused (exit 2), never 'skipped' as already there", async () => {
    const data = tempDir("copya-data");
    writeFileSync(join(data, "f.txt"), "x");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const link = join(tempDir("copya-link"), "repo");
    symlinkSync(join(repo.dir, "repository"), link);
    const r = await runCli(["-c", repo.configFile, "copy", "all", "--to", `file://${link}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is the source repository itself/);
  });

  it("latest: every source's newest backup, not only the newest; a source with none fails the run (exit 3), not the copy", async () => {
    const [a, b, c] = [tempDir("copya-a"), tempDir("copya-b"), tempDir("copya-c")];
    writeFileSync(join(a, "a.txt"), "a");
    writeFileSync(join(b, "b.txt"), "b");
    const repo = makeRepo({
      sources: [
        { name: "a", type: "files", path: a },
        { name: "b", type: "files", path: b },
        { name: "c", type: "files", path: c }, // added to the config, never backed up yet
      ],
    });
    const clock = secondApart();
    const backup = async (...sources: string[]) => {
      const args = ["-c", repo.configFile, "--json", "backup", "now", ...sources.flatMap((n) => ["--source", n])];
      return JSON.parse((await runCli(args, { env: clock() })).stdout).id as string;
    };
    const both = await backup("a", "b");
    const onlyB = await backup("b");
    const dest = tempDir("copya-dest");
    const r = await runCli(["-c", repo.configFile, "--json", "copy", "latest", "--to", `file://${dest}`]);
    expect(r.code).toBe(3);
    const out = JSON.parse(r.stdout);
    expect(out.copied.map((x: { id: string }) => x.id)).toEqual([both, onlyB]);
    expect(out.failed).toEqual([{ id: "(c)", why: expect.stringMatching(/no complete backup holding c/) }]);
    const there = repo.write((cf) => ((cf.repository as { url: string }).url = `file://${dest}`));
    const to = tempDir("copya-to");
    const restored = await runCli(["-c", there, "restore", "latest", "--source", "a", "--source", "b", "--to-dir", to]);
    expect(restored.code).toBe(0);
    expect(readdirSync(to).sort()).toEqual(["a", "b"]);
  });

  it("a copy whose signature is missing at the destination gets it (not 'skipped'); a destination that cannot be opened is an audited failure", async () => {
    const data = tempDir("copya-sig");
    writeFileSync(join(data, "f.txt"), "x");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const audit = join(tempDir("copya-audit"), "audit.jsonl");
    const cfg = repo.write((c) => (c.audit_log = audit));
    const id = JSON.parse((await runCli(["-c", cfg, "--json", "backup", "now"])).stdout).id;
    const dest = tempDir("copya-sig-dest");
    expect((await runCli(["-c", cfg, "copy", id, "--to", `file://${dest}`])).code).toBe(0);
    rmSync(join(dest, "backups", id, "complete.json.sig"));
    const again = await runCli(["-c", cfg, "--json", "copy", id, "--to", `file://${dest}`]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).copied).toEqual([expect.objectContaining({ id, objects: 1 })]);
    const there = repo.write((c) => ((c.repository as { url: string }).url = `file://${dest}`));
    expect((await runCli(["-c", there, "verify", id])).code).toBe(0);
    // A destination that cannot be opened fails inside the job: audited (and, in the daemon, notified).
    const gone = await runCli(["-c", cfg, "copy", id, "--to", "/nonexistent/offsite.yaml"]);
    expect(gone.code).toBe(2);
    const lines = readFileSync(audit, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({
      command: "copy",
      result: "failure",
      error: expect.stringMatching(/offsite\.yaml/),
    });
  });
});
