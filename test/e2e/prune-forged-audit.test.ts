// What an audit of prune against forged repository content found, each case now held: a forgery does
// not take a real backup's retention slot by the start it claims, junk under drills/ does not hide the
// drill pass that keeps a backup, and forged markers cost time and log lines in proportion, not squared.
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { keys, newBackupId } from "../../src/repository/layout.js";
import { secondApart } from "../helpers/backup-clock.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { forgeBackup, writerStore } from "../helpers/forge-store.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { signedRepo } from "../helpers/signing.js";
import { until } from "../helpers/until.js";

const DAY = 86_400_000;
const ids = (stdout: string): string[] => JSON.parse(stdout).map((x: { id: string }) => x.id);

describe("prune against forged backups and reports", () => {
  it("without signing, a forgery stored now that claims to have started yesterday 23:59 does not take yesterday's slot", async () => {
    const data = tempDir("pfa-data");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const config = repo.write((c) => {
      c.retention = { keep_daily: 3 };
      c.state_dir = join(repo.dir, "state");
    });
    const root = join(repo.dir, "repository");
    const store = writerStore(repo);
    const midnight = Math.floor(Date.now() / DAY) * DAY;
    // Real backups of the last three days at 03:00 UTC, each stored when it finished.
    const real: string[] = [];
    for (const d of [3, 2, 1]) {
      const started = new Date(midnight - d * DAY + 3 * 3600_000);
      const { id } = await forgeBackup(store, repo.recipient, { files: { assets: data }, started });
      const t = new Date(started.getTime() + 500);
      utimesSync(join(root, keys.complete(id)), t, t);
      real.push(id);
    }
    // The forgery, stored now: it claims to have started yesterday at 23:59 and to have finished now,
    // which the store's time cannot contradict.
    const { id: forged } = await forgeBackup(store, repo.recipient, {
      id: newBackupId(new Date(midnight - 60_000)),
      files: { assets: tempDir("pfa-evil") },
      complete: (c) => (c.finished_at = new Date().toISOString()),
    });
    const dry = await runCli(["-c", config, "prune", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    // Filed under the day it finished (today), it takes today's slot, not yesterday's.
    const today = new Date(midnight).toISOString().slice(0, 10);
    const yesterday = new Date(midnight - DAY).toISOString().slice(0, 10);
    expect(dry.stdout).toMatch(new RegExp(`${forged} .* keep +daily ${today} of assets`));
    expect(dry.stdout).toMatch(new RegExp(`${real[2]} .* keep +daily ${yesterday} of assets`));
    expect((await runCli(["-c", config, "prune"])).code).toBe(0);
    expect(ids((await runCli(["-c", config, "--json", "list"])).stdout)).toContain(real[2]);
  });

  async function drilledRepo() {
    const data = tempDir("pfa-drill");
    writeFileSync(join(data, "a.txt"), "real\n");
    const { repo } = await signedRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const config = repo.write((c) => {
      c.retention = { keep_last: 2 };
      c.state_dir = join(repo.dir, "state");
    });
    const next = secondApart();
    const backup = async () => {
      const r = await runCli(["-c", config, "--json", "backup", "now"], { env: next() });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).id as string;
    };
    const drilled = await backup();
    expect((await runCli(["-c", config, "drill", drilled])).code).toBe(0);
    for (let i = 0; i < 3; i++) await backup();
    return { repo, config, drilled };
  }

  it("with signing, 1,000 unsigned junk reports under drills/ do not hide the drill pass that keeps a backup", async () => {
    const { repo, config, drilled } = await drilledRepo();
    const store = writerStore(repo);
    for (let i = 0; i < 1000; i++)
      await store.put(keys.drill(newBackupId(new Date(Date.now() - 3600_000))), Readable.from([Buffer.from("x")]));
    const list = JSON.parse((await runCli(["-c", config, "--json", "list"])).stdout);
    expect(list.find((x: { id: string }) => x.id === drilled).last_drill).toMatchObject({ result: "pass" });
    const dry = await runCli(["-c", config, "prune", "--dry-run"]);
    expect(dry.stdout).toMatch(new RegExp(`${drilled} .* keep +newest drill-passed of assets`));
    expect((await runCli(["-c", config, "prune"])).code).toBe(0);
    expect(ids((await runCli(["-c", config, "--json", "list"])).stdout)).toContain(drilled);
  });

  it("more junk signatures under drills/ than prune reads: it refuses (exit 1), deletes nothing, says why; --force deletes", async () => {
    const { repo, config, drilled } = await drilledRepo();
    const dry0 = await runCli(["-c", config, "prune", "--dry-run"]);
    expect(dry0.stdout.split("\n").filter((l) => / drop /.test(l))).toHaveLength(1);
    // 1,001 signature objects newer than the real one, each with a junk report: none is trusted.
    const root = join(repo.dir, "repository");
    for (let i = 0; i < 1001; i++) {
      const id = newBackupId(new Date(Date.now() - i * 1000 - DAY));
      writeFileSync(join(root, keys.drill(id)), "x");
      writeFileSync(join(root, keys.drillSig(id)), "junk");
    }
    const refused = await runCli(["-c", config, "prune"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /prune refused: drills\/ holds more drill reports than prune reads .* no backup deleted\. .* strongbox prune --force/,
    );
    expect(ids((await runCli(["-c", config, "--json", "list"])).stdout)).toHaveLength(4);
    // The drill-passed backup is no longer known as such: with --force it goes too.
    const forced = await runCli(["-c", config, "prune", "--dry-run", "--force"]);
    expect(forced.code).toBe(0);
    const forcedDrops = forced.stdout.split("\n").filter((l) => / drop /.test(l));
    expect(forcedDrops).toHaveLength(2);
    expect(forcedDrops.some((l) => l.startsWith(drilled))).toBe(true);
  });

  it("signing turned on with allow_unsigned_before: a drill pass reported before it still keeps its backup", async () => {
    const data = tempDir("pfa-migrate");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    const plain = repo.write((c) => {
      c.retention = { keep_last: 2 };
      c.state_dir = join(repo.dir, "state");
    });
    const next = secondApart();
    const backup = async (config: string) => {
      const r = await runCli(["-c", config, "--json", "backup", "now"], { env: next() });
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).id as string;
    };
    const drilled = await backup(plain);
    expect((await runCli(["-c", plain, "drill", drilled])).code).toBe(0); // an unsigned report
    // Signing from now on; what the store dated before now is trusted (the migration).
    const keyFile = join(repo.dir, "signing.key");
    const k = await runCli(["-c", plain, "keygen", "--signing", "-o", keyFile]);
    expect(k.code).toBe(0);
    const cutoff = new Date(Date.now() + 1000).toISOString();
    const signed = repo.write((c) => {
      c.retention = { keep_last: 2 };
      c.state_dir = join(repo.dir, "state");
      c.signing = { key_file: keyFile, trusted: [{ key: k.stdout.trim() }], allow_unsigned_before: cutoff };
    });
    await until(() => Date.now() > Date.parse(cutoff));
    for (let i = 0; i < 3; i++) await backup(signed);
    const list = JSON.parse((await runCli(["-c", signed, "--json", "list"])).stdout);
    expect(list.find((x: { id: string }) => x.id === drilled).last_drill).toMatchObject({ result: "pass" });
    const dry = await runCli(["-c", signed, "prune", "--dry-run"]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`${drilled} .* keep .*newest drill-passed of assets`));
  });
});

describe("forged markers cost in proportion", () => {
  it("list names no source that only forged or damaged backups hold; restore latest logs at most 20 skipped backups and a count", async () => {
    const data = tempDir("pfa-many");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const root = join(repo.dir, "repository");
    // 50 junk markers dated after the real backup, and one forged backup naming 300 sources, future-dated.
    for (let i = 0; i < 50; i++) {
      const dir = join(root, "backups", newBackupId(new Date(Date.now() + 60_000 + i * 1000)));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "complete.json"), "{}");
    }
    const store = writerStore(repo);
    const sources = Array.from({ length: 300 }, (_, i) => `f${i}`);
    await forgeBackup(store, repo.recipient, {
      id: newBackupId(new Date(Date.now() + 2 * DAY)),
      files: Object.fromEntries(sources.map((s) => [s, tempDir("pfa-f")])),
    });
    const list = await runCli(["-c", repo.configFile, "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/newest of assets: /);
    expect(list.stdout).not.toMatch(/newest of f\d+/);
    const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", join(tempDir("pfa-to"), "to")]);
    expect(r.code, r.stderr).toBe(0);
    const skipped = r.stderr.split("\n").filter((l) => /skipped backup|more backup\(s\) skipped/.test(l));
    expect(skipped).toHaveLength(21);
    expect(skipped[20]).toMatch(/30 more backup\(s\) skipped \('strongbox list' shows each\)/);
  });
});
