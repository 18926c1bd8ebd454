// Issue 25: a partial restore (--include) of a differential reads only the objects that hold the
// selection: when every selected file is stored in the differential itself, its base's object is not
// fetched at all (counted at the store); when a selected file may come from the base, both are read.
// Either way every written file is checked, and a forged differential that leaves a selected file out
// is refused, not restored short.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { secondApart } from "../helpers/backup-clock.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { ageEncrypt, sha256, tamper } from "../helpers/forge.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const clock = secondApart();

function differentialRepo(data: string): TestRepo {
  const repo = makeRepo({
    sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
  });
  repo.config.state_dir = join(repo.dir, "state");
  repo.config.lock_dir = repo.dir;
  repo.write();
  return repo;
}

async function backup(repo: TestRepo): Promise<{ id: string; kind: string }> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: clock() });
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  return { id: out.id, kind: out.sources[0].kind };
}

/** The keys fetched from the store while `f` runs. */
async function fetched<T>(f: () => Promise<T>): Promise<{ result: T; keys: string[] }> {
  const keys: string[] = [];
  const original = LocalDirStore.prototype.get;
  const spy = vi.spyOn(LocalDirStore.prototype, "get").mockImplementation(function (this: LocalDirStore, key) {
    keys.push(key);
    return original.call(this, key);
  });
  try {
    return { result: await f(), keys };
  } finally {
    spy.mockRestore();
  }
}

describe("restore --include of a differential reads only the objects it needs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("a selection stored in the differential leaves the base's object unread; one from the base reads both", async () => {
    const data = tempDir("pdiff-data");
    const big = randomBytes(3_000_000);
    writeFileSync(join(data, "big.bin"), big);
    writeFileSync(join(data, "notes.txt"), "first\n");
    const repo = differentialRepo(data);
    const full = await backup(repo);
    writeFileSync(join(data, "notes.txt"), "second, longer\n");
    writeFileSync(join(data, "new.txt"), "new\n");
    const diff = await backup(repo);
    expect([full.kind, diff.kind]).toEqual(["full", "diff"]);
    const baseObject = `backups/${full.id}/assets.tar.zst.age`;
    const diffObject = `backups/${diff.id}/assets.tar.zst.age`;

    const restore = (include: string[]) => {
      const to = tempDir("pdiff-to");
      return fetched(async () => ({
        to,
        r: await runCli([
          "-c",
          repo.configFile,
          "restore",
          diff.id,
          "--to-dir",
          to,
          ...include.flatMap((p) => ["--include", p]),
        ]),
      }));
    };

    const changed = await restore(["notes.txt", "new.txt"]);
    expect(changed.result.r.code, changed.result.r.stderr).toBe(0);
    expect(changed.keys).toContain(diffObject);
    expect(changed.keys).not.toContain(baseObject);
    expect(changed.result.r.stderr).toMatch(/the selection lies wholly in the differential/);
    expect(readdirSync(join(changed.result.to, "assets")).sort()).toEqual(["new.txt", "notes.txt"]);
    expect(readFileSync(join(changed.result.to, "assets", "notes.txt"), "utf8")).toBe("second, longer\n");

    // dump reads the same way: a changed file from the differential alone, an unchanged one through its base.
    const dumped = await fetched(() => runCli(["-c", repo.configFile, "dump", diff.id, "assets", "notes.txt"]));
    expect([dumped.result.code, dumped.result.stdout]).toEqual([0, "second, longer\n"]);
    expect(dumped.keys).toContain(diffObject);
    expect(dumped.keys).not.toContain(baseObject);
    const dumpedBig = await fetched(() => runCli(["-c", repo.configFile, "dump", diff.id, "assets", "big.bin"]));
    expect(dumpedBig.result.code).toBe(0);
    expect(dumpedBig.keys).toContain(baseObject);

    const unchanged = await restore(["big.bin"]);
    expect(unchanged.result.r.code, unchanged.result.r.stderr).toBe(0);
    expect(unchanged.keys).toEqual(expect.arrayContaining([diffObject, baseObject]));
    expect(readFileSync(join(unchanged.result.to, "assets", "big.bin")).equals(big)).toBe(true);

    // A whole restore still reads both.
    const whole = await restore([]);
    expect(whole.result.r.code).toBe(0);
    expect(whole.keys).toEqual(expect.arrayContaining([diffObject, baseObject]));

    // A forged manifest names a new file the differential's archive does not hold: read alone, the
    // differential is refused for the missing entry (exit 3), and nothing is written.
    const store = join(repo.dir, "repository");
    const mfile = join(store, "backups", diff.id, "manifest.json.zst.age");
    const plain = zstdDecompressSync(execFileSync("age", ["-d", "-i", repo.identityFile, mfile]));
    const manifest = JSON.parse(plain.toString("utf8"));
    const body = Buffer.from("forged\n");
    const m = manifest.sources.assets;
    m.entries.push({
      path: "zz-forged.txt",
      type: "file",
      size: body.length,
      mode: 0o644,
      mtime: "1762140300",
      sha256: sha256(body),
    });
    m.files += 1;
    m.bytes += body.length;
    m.stored_files += 1;
    m.stored_bytes += body.length;
    const forged = await ageEncrypt(zstdCompressSync(JSON.stringify(manifest)), repo.recipient);
    tamper(store, diff.id, "manifest.json.zst.age", () => forged, { rehash: true });
    const cfile = join(store, "backups", diff.id, "complete.json");
    const complete = JSON.parse(readFileSync(cfile, "utf8"));
    complete.objects.find((o: { key: string }) => o.key.includes("/manifest.")).manifest_bytes =
      JSON.stringify(manifest).length;
    writeFileSync(cfile, JSON.stringify(complete));
    const refused = await restore(["zz-forged.txt"]);
    expect(refused.result.r.code, refused.result.r.stderr).toBe(3);
    expect(refused.keys).not.toContain(baseObject);
    expect(refused.result.r.stderr).toMatch(/zz-forged\.txt/);
    expect(readdirSync(refused.result.to)).toEqual([]);
  });
});
