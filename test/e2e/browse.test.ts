// Browsing and partial restores (README, "Browsing and partial restores") on file:// and Ceph RGW:
// ls, find, diff and dump read a full and a differential, and restore --include writes one file
// or one folder of a differential, checked as a whole restore is.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { snapshotTree } from "../helpers/tree.js";

const s3 = inject("s3");
const nextSecond = secondApart();
beforeEach(() => nextSecond.reset());
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function cli(repo: TestRepo, args: string[]) {
  return runCli(["-c", repo.configFile, ...args]);
}

async function backup(repo: TestRepo): Promise<{ id: string; kind: string }> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: nextSecond() });
  expect(r.stderr).not.toMatch(/"level":"error"/);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout);
  return { id: out.id, kind: out.sources[0].kind };
}

/** A tree, a full of it, a change, and a differential: what every backend's test reads. */
async function fullAndDiff(repo: TestRepo, data: string) {
  mkdirSync(join(data, "projects/alpha/sub"), { recursive: true });
  mkdirSync(join(data, "projects/beta"), { recursive: true });
  writeFileSync(join(data, "projects/alpha/plan.txt"), "plan v1\n");
  writeFileSync(join(data, "projects/alpha/sub/deep.bin"), Buffer.alloc(200_000, 7));
  writeFileSync(join(data, "projects/beta/notes.md"), "beta\n");
  writeFileSync(join(data, "rundown.pdf"), "rundown v1\n");
  writeFileSync(join(data, "gone.txt"), "bye\n");
  writeFileSync(join(data, "becomes-link"), "a file first\n");
  const full = await backup(repo);
  expect(full.kind).toBe("full");
  writeFileSync(join(data, "rundown.pdf"), "rundown v2, longer\n");
  writeFileSync(join(data, "projects/alpha/new.txt"), "new in the differential\n");
  unlinkSync(join(data, "gone.txt"));
  unlinkSync(join(data, "becomes-link"));
  symlinkSync("rundown.pdf", join(data, "becomes-link"));
  const diff = await backup(repo);
  expect(diff.kind).toBe("diff");
  return { full: full.id, diff: diff.id, tree: snapshotTree(data) };
}

function differentialRepo(data: string, o: { s3?: typeof s3 } = {}): TestRepo {
  const repo = makeRepo({
    sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    ...(o.s3 ? { s3: o.s3 } : {}),
  });
  repo.config.state_dir = join(repo.dir, "state");
  repo.config.lock_dir = repo.dir;
  repo.write();
  return repo;
}

async function browseScenario(repo: TestRepo, data: string) {
  const { full, diff, tree } = await fullAndDiff(repo, data);

  // ls: the differential's whole tree from its manifest, text and --json (--long adds hashes).
  const ls = await cli(repo, ["ls", "latest"]);
  expect(ls.stderr).toBe("");
  expect(ls.code).toBe(0);
  expect(ls.stdout).toMatch(/^file\s+0644\s+19\s+\S+Z\s+assets\/rundown\.pdf$/m);
  expect(ls.stdout).toMatch(/^dir\s+\d{4}\s+0\s+\S+\s+assets\/projects\/alpha\/sub$/m);
  expect(ls.stdout).not.toMatch(/gone\.txt/);
  const lsJson = JSON.parse((await cli(repo, ["--json", "ls", diff, "projects/alpha", "--long"])).stdout);
  expect(lsJson.id).toBe(diff);
  expect(lsJson.entries.map((e: { path: string }) => e.path)).toEqual([
    "projects/alpha",
    "projects/alpha/new.txt",
    "projects/alpha/plan.txt",
    "projects/alpha/sub",
    "projects/alpha/sub/deep.bin",
  ]);
  const deep = lsJson.entries.find((e: { path: string }) => e.path.endsWith("deep.bin"));
  expect(deep).toMatchObject({ source: "assets", type: "file", size: 200_000, sha256: sha(Buffer.alloc(200_000, 7)) });
  expect((await cli(repo, ["ls", diff, "no/such"])).code).toBe(1);

  // diff across the full and the differential.
  const d = JSON.parse((await cli(repo, ["--json", "diff", full, diff])).stdout);
  expect(d).toMatchObject({ from: full, to: diff, added: 1, removed: 1, modified: 1, "type-changed": 1 });
  expect(d.changes.map((c: { change: string; path: string }) => `${c.change} ${c.path}`)).toEqual([
    "type-changed becomes-link",
    "removed gone.txt",
    "added projects/alpha/new.txt",
    "modified rundown.pdf",
  ]);
  const dText = await cli(repo, ["diff", full, diff]);
  expect(dText.stdout).toContain("M assets/rundown.pdf (11 B -> 19 B)");
  expect(dText.stdout).toContain("+ assets/projects/alpha/new.txt");

  // find: every backup that holds a match, newest first.
  const f = JSON.parse((await cli(repo, ["--json", "find", "*.pdf"])).stdout);
  expect(f.matches.map((m: { id: string; size: number }) => [m.id, m.size])).toEqual([
    [diff, 19],
    [full, 11],
  ]);
  const braces = JSON.parse((await cli(repo, ["--json", "find", "projects/{alpha,beta}/[np]*"])).stdout);
  expect(new Set(braces.matches.map((m: { path: string }) => m.path))).toEqual(
    new Set(["projects/alpha/new.txt", "projects/alpha/plan.txt", "projects/beta/notes.md"]),
  );

  // dump: a file stored in the differential, and one the differential takes from its base.
  const dumped = await cli(repo, ["dump", diff, "assets", "rundown.pdf"]);
  expect(dumped.code).toBe(0);
  expect(dumped.stdout).toBe("rundown v2, longer\n");
  const fromBase = await cli(repo, ["dump", diff, "assets", "projects/beta/notes.md"]);
  expect([fromBase.code, fromBase.stdout]).toEqual([0, "beta\n"]);
  expect((await cli(repo, ["dump", diff, "assets", "projects"])).code).toBe(2);
  expect((await cli(repo, ["dump", diff, "assets", "gone.txt"])).code).toBe(1);

  // restore --include: one file, and one folder, of the differential.
  const one = tempDir("browse-one");
  const r1 = await cli(repo, ["restore", diff, "--to-dir", one, "--include", "rundown.pdf"]);
  expect(r1.code).toBe(0);
  expect(snapshotTree(join(one, "assets"))).toEqual({ "rundown.pdf": tree["rundown.pdf"] });
  const folder = tempDir("browse-folder");
  const r2 = await cli(repo, [
    "restore",
    diff,
    "--to-dir",
    folder,
    "--include",
    "projects/alpha",
    "--exclude",
    "**/*.bin",
  ]);
  expect(r2.code).toBe(0);
  const got = snapshotTree(join(folder, "assets"));
  const want = Object.fromEntries(
    Object.entries(tree).filter(([p]) => p === "projects" || (p.startsWith("projects/alpha") && !p.endsWith(".bin"))),
  );
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  expect(got["projects/alpha/plan.txt"]).toEqual(tree["projects/alpha/plan.txt"]);
  // The parent that was not selected itself is written with its own mode and time.
  expect(got["projects"]).toEqual(tree["projects"]);
  expect(readFileSync(join(folder, "assets/projects/alpha/new.txt"), "utf8")).toBe("new in the differential\n");
  const none = await cli(repo, ["restore", diff, "--to-dir", tempDir("browse-none"), "--include", "nothing*"]);
  expect(none.code).toBe(1);
  expect(none.stderr).toMatch(/select no path/);
  return { full, diff };
}

describe("browsing a full and a differential", () => {
  it("file://: ls, find, diff, dump and restore --include of one file and one folder", async () => {
    const data = tempDir("browse-data");
    await browseScenario(differentialRepo(data), data);
  }, 300_000);

  it.skipIf(!s3)(
    "Ceph RGW (reader role): ls, find, diff, dump and restore --include",
    async () => {
      const data = tempDir("browse-s3");
      await browseScenario(differentialRepo(data, { s3 }), data);
    },
    300_000,
  );
});
