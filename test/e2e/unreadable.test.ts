// Issue 21, "Nothing unread passes silently": a backup run as a user who cannot read part of a
// source fails that source by default (exit 1, the others are still committed); with
// on_unreadable: partial it is committed, marked partial, and said so everywhere (exit 4).
import { execSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, makeRepo, runCollect, tempDir, type CliResult, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { startReceiver } from "../helpers/http-receiver.js";

const NOBODY = 65534;

/** The built CLI run as `nobody` (runuser), as the shipped units and the image run it: not root. */
function runAsNobody(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCollect("runuser", ["-u", "nobody", "--", process.execPath, BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: home, TMPDIR: "/tmp", ...env },
  });
}

/** A directory `nobody` may enter and read (temp dirs are made 0700). */
function open(dir: string): string {
  chmodSync(dir, 0o755);
  return dir;
}

const home = open(tempDir("nobody-home"));
chownSync(home, NOBODY, NOBODY);

/** A tree nobody can read except for `secret/` (0700, root's) and `locked.txt` (0600, root's). */
function treeWithSecrets(): string {
  const root = open(tempDir("unreadable-src"));
  writeFileSync(join(root, "readme.txt"), "anyone may read this\n");
  chmodSync(join(root, "readme.txt"), 0o644);
  mkdirSync(join(root, "secret"), { mode: 0o700 });
  writeFileSync(join(root, "secret", "key.txt"), "only root\n");
  writeFileSync(join(root, "locked.txt"), "only root too\n", { mode: 0o600 });
  chmodSync(join(root, "locked.txt"), 0o600);
  return root;
}

/** A repository `nobody` may write, and a config without the identity file (a backup-only host). */
function repoForNobody(
  sources: Record<string, unknown>[],
  mutate: (c: Record<string, any>) => void = () => {},
): { repo: TestRepo; config: string } {
  const repo = makeRepo({ sources });
  open(repo.dir);
  mkdirSync(join(repo.dir, "repository"));
  chownSync(join(repo.dir, "repository"), NOBODY, NOBODY);
  const config = repo.write((c) => {
    delete c.encryption.identity_file;
    // runuser sets HOME to nobody's (/nonexistent): the lock and state go where nobody may write
    c.lock_dir = home;
    c.state_dir = home;
    mutate(c);
  });
  chmodSync(config, 0o644);
  return { repo, config };
}

function complete(
  repo: TestRepo,
  id: string,
): { sources: { name: string }[]; partial?: string[]; objects: { key: string; source?: string }[] } {
  return JSON.parse(readFileSync(join(repo.dir, "repository/backups", id, "complete.json"), "utf8"));
}

function backupIds(repo: TestRepo): string[] {
  return readdirSync(join(repo.dir, "repository/backups")).sort();
}

/** The decrypted manifest (age + zstd, as by hand). */
function manifest(
  repo: TestRepo,
  id: string,
): { sources: Record<string, { unreadable?: number; skipped?: string[]; entries: { path: string }[] }> } {
  const file = join(repo.dir, "repository/backups", id, "manifest.json.zst.age");
  return JSON.parse(execSync(`age -d -i '${repo.identityFile}' '${file}' | zstd -dc`).toString());
}

describe("a source that cannot be read in full", () => {
  it("by default fails that source, names the first paths and the count, exits 1; the readable source is still committed", async () => {
    const docs = treeWithSecrets();
    const other = open(tempDir("unreadable-other"));
    writeFileSync(join(other, "a.txt"), "a");
    chmodSync(join(other, "a.txt"), 0o644);
    const { repo, config } = repoForNobody([
      { name: "docs", type: "files", path: docs },
      { name: "other", type: "files", path: other },
    ]);
    const r = await runAsNobody(["-c", config, "--json", "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /source docs: 2 path\(s\) could not be read: locked\.txt, secret; nothing of this source was stored/,
    );
    const out = JSON.parse(r.stdout);
    expect(out.exit_code).toBe(1);
    expect(out.failed).toEqual([{ name: "docs", error: expect.stringMatching(/2 path\(s\) could not be read/) }]);
    expect(out.sources.map((s: { name: string }) => s.name)).toEqual(["other"]);
    // committed, holding just the readable source; nothing of docs stored, not even an object without a commit
    const [id] = backupIds(repo);
    expect(id).toBe(out.id);
    expect(complete(repo, id).sources).toEqual([{ name: "other", type: "files" }]);
    expect(complete(repo, id).partial).toBeUndefined();
    expect(readdirSync(join(repo.dir, "repository/backups", id)).filter((f) => f.startsWith("docs"))).toEqual([]);
    // it is a normal complete backup of `other`
    const v = await runCli(["-c", repo.configFile, "verify", id]);
    expect(v.code).toBe(0);
  });

  it("an unreadable source root fails the source (it used to be stored as 0 B)", async () => {
    const root = tempDir("unreadable-root"); // 0700, root's
    writeFileSync(join(root, "data.txt"), "x");
    const { repo, config } = repoForNobody([{ name: "root", type: "files", path: root }]);
    const r = await runAsNobody(["-c", config, "backup", "now"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/source root: 1 path\(s\) could not be read: \./);
    // nothing committed, nothing of the source stored
    expect(execSync(`find '${join(repo.dir, "repository")}' -type f`).toString()).toBe("");
  });

  it("on_unreadable: partial commits what could be read, marked partial in complete.json, the manifest, the output, list, drill and notifications; exit 4", async () => {
    const docs = treeWithSecrets();
    const hook = await startReceiver();
    const hc = await startReceiver();
    try {
      const { repo, config } = repoForNobody([{ name: "docs", type: "files", path: docs }], (c) => {
        c.on_unreadable = "partial";
        c.notify = [
          { type: "webhook", url: `${hook.url}/hook` },
          { type: "healthchecks", url: `${hc.url}/ping` },
        ];
      });
      const r = await runAsNobody(["-c", config, "--json", "backup", "now"]);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/partial: docs: 2 unreadable path\(s\) left out \(locked\.txt, secret\)/);
      const out = JSON.parse(r.stdout);
      expect(out).toMatchObject({ exit_code: 4, partial: ["docs"], failed: [] });
      expect(out.sources[0]).toMatchObject({
        name: "docs",
        unreadable: 2,
        skipped: ["locked.txt", "secret"],
        changed: 0,
      });

      expect(complete(repo, out.id).partial).toEqual(["docs"]);
      const m = manifest(repo, out.id).sources.docs;
      expect(m.unreadable).toBe(2);
      expect(m.skipped).toEqual(["locked.txt", "secret"]);
      // what was read is there; the unreadable directory is listed as skipped, its contents are not in the backup
      expect(m.entries.map((e) => e.path)).toEqual(["readme.txt", "secret"]);

      const list = await runCli(["-c", repo.configFile, "list"]);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(`${out.id} (PARTIAL)`);
      expect(list.stdout).toMatch(new RegExp(`${out.id}: partial: docs left out paths that could not be read`));
      const listJson = JSON.parse((await runCli(["-c", repo.configFile, "--json", "list"])).stdout);
      expect(listJson[0].partial).toEqual(["docs"]);

      const drill = await runCli(["-c", repo.configFile, "drill", out.id]);
      expect(drill.code).toBe(0);
      expect(drill.stdout).toMatch(/PARTIAL backup: docs left out unreadable paths/);

      // the failure channel, with "partial" in the text
      const webhook = JSON.parse(hook.calls.find((c) => c.path === "/hook")!.body);
      expect(webhook.status).toBe("failure");
      expect(webhook.report.partial_sources).toEqual(["docs"]);
      const fail = hc.calls.find((c) => c.path === "/ping/fail");
      expect(fail?.body).toMatch(/partial: docs: 2 unreadable path\(s\) left out/);
      expect(hc.calls.some((c) => c.path === "/ping" && c.method === "POST")).toBe(false);
    } finally {
      await hook.close();
      await hc.close();
    }
  });

  it("on_unreadable on the source overrides the global setting", async () => {
    const docs = treeWithSecrets();
    const { repo, config } = repoForNobody([{ name: "docs", type: "files", path: docs, on_unreadable: "partial" }]);
    const r = await runAsNobody(["-c", config, "backup", "now"]);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/docs\s+PARTIAL: 2 unreadable path\(s\) left out: locked\.txt, secret/);
    expect(complete(repo, backupIds(repo)[0]).partial).toEqual(["docs"]);
    const strict = repo.write((c) => {
      delete c.encryption.identity_file;
      c.lock_dir = home;
      c.state_dir = home;
      c.on_unreadable = "partial";
      c.sources[0].on_unreadable = "fail";
    });
    chmodSync(strict, 0o644);
    const r2 = await runAsNobody(["-c", strict, "backup", "now"]);
    expect(r2.code).toBe(1);
  });

  it("a bad on_unreadable value is a config error naming the key", async () => {
    const { repo } = repoForNobody([{ name: "docs", type: "files", path: tempDir("x"), on_unreadable: "skip" }]);
    const r = await runCli(["-c", repo.configFile, "backup", "now"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sources\[0\]\.on_unreadable: on_unreadable must be 'fail' or 'partial'/);
  });
});

describe("root is unaffected", () => {
  const data = tempDir("root-reads");
  beforeAll(() => {
    mkdirSync(join(data, "secret"), { mode: 0o700 });
    writeFileSync(join(data, "secret", "k"), "k", { mode: 0o600 });
  });
  afterAll(() => {});
  it("root reads a 0700 directory: exit 0, not partial", async () => {
    const repo = makeRepo({ sources: [{ name: "d", type: "files", path: data }] });
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exit_code: 0, partial: [], failed: [] });
  });
});
