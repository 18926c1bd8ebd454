// Cases where verify, restore and drill did not reach one verdict (or not with the right exit code),
// found by an audit of the verdicts: each now reaches the same one, and says it in one line.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { secondApart } from "../helpers/backup-clock.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { ageEncrypt, forgeBackup, sha256, tamper } from "../helpers/forge.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { archive, fileEntry, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";

function setup() {
  const data = tempDir("sv-data");
  writeFileSync(join(data, "real.txt"), "real\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  return { repo, store: join(repo.dir, "repository") };
}

const to = () => join(tempDir("sv-to"), "to");

/** verify, restore and drill of backup `id`: each exits 3, saying `why`. */
async function allThreeRefuse(configFile: string, id: string, why: RegExp): Promise<void> {
  for (const args of [
    ["verify", id],
    ["restore", id, "--to-dir", to()],
    ["drill", id],
  ]) {
    const r = await runCli(["-c", configFile, ...args]);
    expect(r.code, `${args[0]}: ${r.stderr}`).toBe(3);
    expect(r.stderr).toMatch(why);
  }
}

describe("verify, restore and drill: one verdict", () => {
  it("a symlink target of 4,096 bytes or more (no file system holds one) is refused by all three, exit 3", async () => {
    const { repo, store } = setup();
    const target = "\u20ac".repeat(1500); // 1,500 UTF-16 units (the manifest's bound is 4,096), 4,500 bytes
    const tar = archive(paxHeader(paxRecord("linkpath", target)), rawHeader({ name: "link", typeflag: "2" }));
    const id = await forgeBackup(store, repo.recipient, {
      files: {
        assets: {
          tar,
          entries: [{ path: "link", type: "symlink", size: 0, mode: 0o777, mtime: "1462140300", target }],
        },
      },
    });
    await allThreeRefuse(repo.configFile, id, /a symlink target of 4500 bytes \(at most 4095\)/);
  });

  it("a restore target too deep for an entry's path is the target's fault: exit 1, one short line", async () => {
    const { repo, store } = setup();
    // 16 components of 254 bytes: within the archive's bounds (4,096 bytes, 255 a component).
    const rel = Array.from({ length: 16 }, (_, i) => String.fromCharCode(97 + i).repeat(254)).join("/");
    const body = Buffer.from("deep\n");
    const tar = archive(paxHeader(paxRecord("path", rel)), fileEntry("deep", body));
    const id = await forgeBackup(store, repo.recipient, {
      files: {
        assets: {
          tar,
          entries: [
            { path: rel, type: "file", size: body.length, mode: 0o644, mtime: "1462140300", sha256: sha256(body) },
          ],
        },
      },
    });
    expect((await runCli(["-c", repo.configFile, "verify", id])).code).toBe(0);
    const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", to()]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(
      /cannot write the restore target at "a+…p+": the path on disk is too long \(ENAMETOOLONG\)/,
    );
    // The path is shortened: the line stays readable (it was 8 KB, the path twice).
    const line = r.stderr.split("\n").find((l) => l.startsWith("strongbox: error:"))!;
    expect(line.length).toBeLessThan(400);
  });

  it("a part on a files source (only a database has one) is refused by all three", async () => {
    const { repo, store } = setup();
    const body = Buffer.from("hello\n");
    const id = await forgeBackup(store, repo.recipient, {
      files: {
        assets: {
          tar: archive(fileEntry("a.txt", body)),
          entries: [
            { path: "a.txt", type: "file", size: body.length, mode: 0o644, mtime: "1462140300", sha256: sha256(body) },
          ],
        },
      },
      complete: (c) => {
        const key = `backups/${c.id}/assets.globals.sql.age`;
        const junk = Buffer.from("not what complete.json promises\n");
        writeFileSync(join(store, key), junk);
        c.objects.push({ key, size: junk.length, sha256: "0".repeat(64), source: "assets", part: "globals" });
      },
    });
    await allThreeRefuse(repo.configFile, id, /a files source has no parts/);
  });

  it.each(["missing", "truncated"] as const)(
    "drill of a named backup whose object is %s: exit 3 with verify's and restore's reason, even as the only backup",
    async (how) => {
      const { repo } = setup();
      const id = JSON.parse((await runCli(["-c", repo.configFile, "--json", "backup", "now"])).stdout).id;
      const dir = join(repo.dir, "repository", "backups", id);
      const obj = join(
        dir,
        readdirSync(dir).find((n) => n.startsWith("assets."))!,
      );
      if (how === "missing") rmSync(obj);
      else truncateSync(obj, 100);
      const why = how === "missing" ? /is missing/ : /has 100 bytes, complete\.json says \d+/;
      await allThreeRefuse(repo.configFile, id, why);
    },
  );

  it("a junk complete.json under a far-future id does not fail verify latest for good; a damaged newest backup still does", async () => {
    const { repo, store } = setup();
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const future = join(store, "backups", "20991231T235959Z-abcdef");
    mkdirSync(future, { recursive: true });
    writeFileSync(join(future, "complete.json"), "junk");
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    const v = await runCli(["-c", repo.configFile, "verify", "latest"]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout + v.stderr).not.toMatch(/20991231T235959Z-abcdef/);
    // It is still listed as damaged, for an operator.
    expect((await runCli(["-c", repo.configFile, "list"])).stdout).toMatch(/20991231T235959Z-abcdef \(DAMAGED\)/);
    // A damaged marker dated now is the newest backup, and verify latest fails on it.
    const { newBackupId } = await import("../../src/repository/layout.js");
    const now = join(store, "backups", newBackupId(new Date(Date.now() + 2000)));
    mkdirSync(now, { recursive: true });
    writeFileSync(join(now, "complete.json"), "junk");
    expect((await runCli(["-c", repo.configFile, "verify", "latest"])).code).toBe(3);
  });
});

describe("a partial restore of a differential reaches the whole restore's verdict", () => {
  const clock = secondApart();
  async function fullAndDiff() {
    const data = tempDir("sv-diff");
    writeFileSync(join(data, "big.bin"), randomBytes(3_000_000));
    writeFileSync(join(data, "notes.txt"), "first\n");
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    const config = repo.write((c) => (c.state_dir = join(repo.dir, "state")));
    const run = (args: string[]) => runCli(["-c", config, ...args], { env: clock() });
    const full = JSON.parse((await run(["--json", "backup", "now"])).stdout).id as string;
    writeFileSync(join(data, "notes.txt"), "second, longer\n");
    const out = JSON.parse((await run(["--json", "backup", "now"])).stdout);
    expect(out.sources[0].kind).toBe("diff");
    return { repo, run, full, diff: out.id as string, store: join(repo.dir, "repository") };
  }

  it("a base whose manifest cannot be read: the partial restore and dump read the base whole, as the whole restore does", async () => {
    const { run, full, diff, store } = await fullAndDiff();
    const dir = join(store, "backups", full);
    const mf = join(
      dir,
      readdirSync(dir).find((n) => n.startsWith("manifest."))!,
    );
    const bytes = readFileSync(mf);
    bytes[bytes.length - 5] ^= 0xff; // bit rot, the size kept
    writeFileSync(mf, bytes);
    expect((await run(["verify", diff])).code).toBe(0);
    expect((await run(["restore", diff, "--to-dir", join(tempDir("sv-to"), "to")])).code).toBe(0);
    const part = await run(["restore", diff, "--to-dir", join(tempDir("sv-to"), "to"), "--include", "notes.txt"]);
    expect(part.code, part.stderr).toBe(0);
    expect(part.stderr).toMatch(/base \S+'s manifest cannot be read \(.*SHA-256 mismatch.*\): its object is read/);
    const dump = await run(["dump", diff, "assets", "notes.txt"]);
    expect([dump.code, dump.stdout]).toEqual([0, "second, longer\n"]);
  });

  it("a differential's manifest that differs from the base's only in a file's mtime: the partial restore still reads the base", async () => {
    const { repo, run, diff, store } = await fullAndDiff();
    // The differential's entry for big.bin (unchanged: it comes from the base) gets another mtime.
    const mfile = join(store, "backups", diff, "manifest.json.zst.age");
    const manifest = JSON.parse(
      zstdDecompressSync(execFileSync("age", ["-d", "-i", repo.identityFile, mfile])).toString(),
    );
    const e = manifest.sources.assets.entries.find((x: { path: string }) => x.path === "big.bin");
    e.mtime = String(Number(e.mtime.split(".")[0]) - 1000);
    const forged = await ageEncrypt(zstdCompressSync(JSON.stringify(manifest)), repo.recipient);
    tamper(store, diff, "manifest.json.zst.age", () => forged, { rehash: true });
    const cfile = join(store, "backups", diff, "complete.json");
    const complete = JSON.parse(readFileSync(cfile, "utf8"));
    complete.objects.find((o: { key: string }) => o.key.includes("/manifest.")).manifest_bytes =
      JSON.stringify(manifest).length;
    writeFileSync(cfile, JSON.stringify(complete));
    expect((await run(["verify", diff])).code).toBe(0);
    expect((await run(["restore", diff, "--to-dir", join(tempDir("sv-to"), "to")])).code).toBe(0);
    const part = await run(["restore", diff, "--to-dir", join(tempDir("sv-to"), "to"), "--include", "big.bin"]);
    expect(part.code, part.stderr).toBe(0);
  });
});
