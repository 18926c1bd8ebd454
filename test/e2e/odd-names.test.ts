// Files that POSIX allows but that once made a backup that said "success" and could not be restored,
// or lost data without failing: names with a backslash or a drive-letter look, mtimes before 1970 and
// after 2242 (past ustar's field), and names that are not UTF-8 (which a manifest cannot hold: such a
// path is unreadable, so the source fails, or is partial with on_unreadable: partial).
import { lstatSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { snapshotTree } from "../helpers/tree.js";

const mtimeNs = (p: string) => lstatSync(p, { bigint: true }).mtimeNs;

describe("odd but legal files", () => {
  it("backslashes, 'C:' names and mtimes before 1970 or after 2242: backup, verify and restore agree, times exact", async () => {
    const data = tempDir("odd-data");
    mkdirSync(join(data, "docs"));
    writeFileSync(join(data, "docs", "C:\\Users\\report.txt"), "from a Windows zip");
    writeFileSync(join(data, "D:notes.txt"), "a drive letter look");
    writeFileSync(join(data, "apollo-1969.txt"), "scanned");
    writeFileSync(join(data, "half-second-1969.txt"), "x");
    writeFileSync(join(data, "far-2400.txt"), "y");
    // Times as decimal text: Node sets a negative *number* of seconds as "now".
    utimesSync(join(data, "apollo-1969.txt"), "-14182940", "-14182940"); // 1969-07-20T20:17:40Z
    utimesSync(join(data, "half-second-1969.txt"), "-1.5", "-1.5");
    utimesSync(join(data, "far-2400.txt"), 13569465600, 13569465600); // 2400-01-01, past 8^11 s
    expect(mtimeNs(join(data, "apollo-1969.txt"))).toBe(-14182940_000_000_000n);
    expect(mtimeNs(join(data, "far-2400.txt"))).toBe(13569465600_000_000_000n); // the file system holds it
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    expect(b.stderr).not.toMatch(/"level":"(warn|error)"/);
    const id = JSON.parse(b.stdout).id;
    expect((await runCli(["-c", repo.configFile, "verify", id])).code).toBe(0);
    const to = tempDir("odd-to");
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", to]);
    expect([r.code, r.stderr.match(/error.*/)?.[0]]).toEqual([0, undefined]);
    expect(snapshotTree(join(to, "assets"))).toEqual(snapshotTree(data));
    for (const [name, ns] of [
      ["apollo-1969.txt", -14182940_000_000_000n],
      ["half-second-1969.txt", -1_500_000_000n],
      ["far-2400.txt", 13569465600_000_000_000n],
    ] as const)
      expect([name, mtimeNs(join(to, "assets", name))]).toEqual([name, ns]);
    const ls = JSON.parse((await runCli(["-c", repo.configFile, "--json", "ls", id])).stdout);
    const mtimes = Object.fromEntries(ls.entries.map((e: { path: string; mtime: string }) => [e.path, e.mtime]));
    expect(mtimes["apollo-1969.txt"]).toBe("-14182940");
    expect(mtimes["half-second-1969.txt"]).toBe("-1.5");
  });

  it("a name that is not UTF-8 fails its source (exit 1, named); with on_unreadable: partial the rest is committed (exit 4)", async () => {
    const data = tempDir("odd-utf8");
    writeFileSync(join(data, "ok.txt"), "kept");
    writeFileSync(Buffer.concat([Buffer.from(`${data}/bad`), Buffer.from([0xff])]), "latin-1");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const failed = await runCli(["-c", repo.configFile, "backup", "now"]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/bad\ufffd: not backed up: its name is not UTF-8/);
    const cfg = repo.write((c) => ((c.sources as Record<string, unknown>[])[0].on_unreadable = "partial"));
    const partial = await runCli(["-c", cfg, "--json", "backup", "now"]);
    expect(partial.code).toBe(4);
    const to = tempDir("odd-utf8-to");
    expect((await runCli(["-c", cfg, "restore", JSON.parse(partial.stdout).id, "--to-dir", to])).code).toBe(0);
    expect(readdirSync(join(to, "assets"))).toEqual(["ok.txt"]);
  });

  it("a differential source with a file from before 1970 stays differential (its state holds the mtime)", async () => {
    const data = tempDir("odd-diff");
    writeFileSync(join(data, "apollo-1969.txt"), "scanned");
    utimesSync(join(data, "apollo-1969.txt"), "-14182940.25", "-14182940.25");
    writeFileSync(join(data, "today.txt"), "1");
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.write();
    const clock = secondApart();
    const kinds: string[] = [];
    for (const content of ["2", "3"]) {
      const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: clock() });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/malformed/);
      kinds.push(JSON.parse(r.stdout).sources[0].kind);
      writeFileSync(join(data, "today.txt"), content);
    }
    expect(kinds).toEqual(["full", "diff"]);
    const to = tempDir("odd-diff-to");
    expect((await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to])).code).toBe(0);
    expect(mtimeNs(join(to, "assets", "apollo-1969.txt"))).toBe(-14182940_250_000_000n);
  });

  it("a source that holds no files (a share not mounted) is backed up with a warning that says so", async () => {
    const data = tempDir("odd-empty");
    mkdirSync(join(data, "only-a-dir"));
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/assets: holds no regular files \(.*odd-empty.*\): is its file system mounted\?/);
    expect(JSON.parse(r.stdout).warnings).toEqual([expect.stringMatching(/assets: holds no regular files/)]);
  });
});
