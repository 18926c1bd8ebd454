// ls, find, diff, dump and restore --include read the repository as hostile input, exactly as
// restore does: a forged backup (made with only the PUBLIC recipient, test/helpers/forge.ts) is
// refused with one line that names the object and the problem, or, where its names are merely
// strange, shown with control characters escaped. find stays bounded over 200 backups.
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { comparePaths } from "../../src/archive/path-order.js";
import { newBackupId } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { fileManifestEntry as entry, forgeBackup } from "../helpers/forge.js";
import { runMeasured } from "../helpers/measure.js";
// In-process: the forged cases need no process boundary (see test/helpers/run-in-process.ts); the
// memory bound of find over 200 backups stays a real process (runMeasured: its peak RSS).
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { archive, fileEntry } from "../helpers/tar-craft.js";

function filesRepo(): { repo: TestRepo; store: string } {
  const data = tempDir("bforge-data");
  writeFileSync(join(data, "real.txt"), "the real data\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  return { repo, store: join(repo.dir, "repository") };
}

/** A well-formed files source of one file `name`; `entries` may be changed by a case. */
function oneFile(name: string, body = Buffer.from("owned\n")) {
  return { tar: archive(fileEntry(name, body)), entries: [entry(name, body)] as Record<string, unknown>[] };
}

const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);

type Case = {
  name: string;
  forge: Parameters<typeof forgeBackup>[2];
  /** The file dump asks for. */
  path: string;
  /** Exit code of every command (3: refused as corrupt or forged), and what its one line says. */
  code: number;
  says?: RegExp;
};

const cases: Case[] = [
  {
    name: "a ../ path",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.entries[0].path = "../../x") },
    path: "x",
    code: 3,
    says: /manifest\.json\.age: unsafe path .*"\.\.\/\.\.\/x" \('\.\.' component\)/,
  },
  {
    name: "an absolute path",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.entries[0].path = "/etc/passwd") },
    path: "x",
    code: 3,
    says: /unsafe path .*"\/etc\/passwd" \(absolute path\)/,
  },
  {
    name: "a NUL byte in a name",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.entries[0].path = "a\u0000b") },
    path: "x",
    code: 3,
    says: /unsafe path .*\(NUL byte\)/,
  },
  {
    name: "the same path twice",
    forge: {
      files: { assets: oneFile("x") },
      manifest: (m) => m.sources.assets.entries.push({ ...m.sources.assets.entries[0] }),
    },
    path: "x",
    code: 3,
    says: /entries\[1\] "x" is out of tree order/,
  },
  {
    name: "a huge size",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.entries[0].size = 1e300) },
    path: "x",
    code: 3,
    says: /entries\[0\]: size or mode out of range/,
  },
  {
    name: "more files claimed than listed",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.files = 5000) },
    path: "x",
    code: 3,
    says: /sources\.assets\.files is 5000, its entries hold 1 files/,
  },
  {
    name: "deep nesting",
    forge: { files: { assets: oneFile("x") }, manifest: (m) => (m.sources.assets.entries[0].target = deep(200)) },
    path: "x",
    code: 3,
    says: /nesting too deep/,
  },
];

async function forged(c: Case) {
  const { repo, store } = filesRepo();
  const good = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
  expect(good.code).toBe(0);
  const id = await forgeBackup(store, repo.recipient, c.forge);
  return { repo, good: JSON.parse(good.stdout).id as string, id };
}

/** The one error line on stderr: no stack, no second line. */
function oneLine(stderr: string): string {
  const errors = stderr.split("\n").filter((l) => l.startsWith("strongbox: "));
  expect(errors).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return errors[0];
}

describe("browse commands refuse forged manifests", () => {
  it.each(cases)("$name: ls, find, diff, dump and restore --include exit $code", async (c) => {
    const { repo, good, id } = await forged(c);
    const to = tempDir("bforge-to");
    const runs = {
      ls: ["ls", id],
      find: ["find", "*"],
      diff: ["diff", good, id],
      dump: ["dump", id, "assets", c.path],
      include: ["restore", id, "--to-dir", to, "--include", "*"],
    };
    for (const [what, args] of Object.entries(runs)) {
      const r = await runCli(["-c", repo.configFile, ...args]);
      expect([what, r.code]).toEqual([what, c.code]);
      expect(oneLine(r.stderr)).toMatch(c.says!);
      expect(oneLine(r.stderr)).toContain(`backups/${id}/`);
      if (what === "dump") expect(r.stdout).toBe("");
    }
    expect(readdirSync(to)).toEqual([]);
  });

  it("control characters in names are escaped on output; a name is shown, never obeyed", async () => {
    const name = "\u001b[31mred\u0007.pdf";
    const { repo, id } = await forged({
      name: "control",
      forge: { files: { assets: oneFile(name) } },
      path: name,
      code: 0,
    });
    for (const args of [
      ["ls", id],
      ["find", "*.pdf"],
      ["ls", id, "--long"],
    ]) {
      const r = await runCli(["-c", repo.configFile, ...args]);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
      expect(r.stdout).toContain("assets/\\x1b[31mred\\x07.pdf");
    }
    const json = JSON.parse((await runCli(["-c", repo.configFile, "--json", "ls", id])).stdout);
    expect(json.entries[0].path).toBe(name);
    const dumped = await runCli(["-c", repo.configFile, "dump", id, "assets", name]);
    expect([dumped.code, dumped.stdout]).toEqual([0, "owned\n"]);
  });

  it("a name that reads as something else (a symlink's arrow, a quoted name, a typed escape) is shown quoted", async () => {
    const names = ['"x1b".pdf', "\\x1b[31mred.pdf", "x -> /etc/passwd"]; // in tree order; the second is text, not ESC
    const { repo, id } = await forged({
      name: "spoof",
      forge: {
        files: {
          assets: {
            tar: archive(...names.map((n) => fileEntry(n, Buffer.from(n)))),
            entries: names.map((n) => entry(n, Buffer.from(n))),
          },
        },
      },
      path: names[2],
      code: 0,
    });
    const r = await runCli(["-c", repo.configFile, "ls", id]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain('"assets/x -> /etc/passwd"');
    expect(r.stdout).toContain('"assets/\\"x1b\\".pdf"');
    expect(r.stdout).toContain('"assets/\\\\x1b[31mred.pdf"');
    expect(r.stdout).not.toMatch(/ assets\/x -> /);
    const json = JSON.parse((await runCli(["-c", repo.configFile, "--json", "ls", id])).stdout);
    expect(json.entries.map((e: { path: string }) => e.path)).toEqual(names);
  });

  it("dump of a file whose bytes do not match the manifest's SHA-256: exit 3, and the consumer gets a truncated file", async () => {
    const body = Buffer.alloc(600_000, 0x61);
    const lie = Buffer.from(body);
    lie[lie.length - 1] = 0x62; // the archive holds other bytes than the manifest's hash says
    const { repo, id } = await forged({
      name: "wrong hash",
      forge: {
        files: { assets: { tar: archive(fileEntry("big.bin", lie)), entries: [entry("big.bin", body)] } },
      },
      path: "big.bin",
      code: 3,
    });
    const r = await runCli(["-c", repo.configFile, "dump", id, "assets", "big.bin"]);
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toMatch(/"big\.bin": the archive's file .* does not match the manifest .*withheld/);
    expect(r.stdout.length).toBeLessThan(body.length);
    // ls reads only the manifest, which is well-formed: it shows the file.
    expect((await runCli(["-c", repo.configFile, "ls", id])).code).toBe(0);
    // restore --include of it reaches the same verdict, and keeps nothing.
    const to = tempDir("bforge-hash");
    const inc = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", to, "--include", "big.bin"]);
    expect(inc.code).toBe(3);
    expect(readdirSync(to)).toEqual([]);
  });

  it("dump of a file whose archived body is longer than the manifest says: exit 3, and not one byte of it goes out", async () => {
    const real = Buffer.from("echo real\n");
    // Without the check, all but the last chunk of this went out before the hash was compared.
    const longer = Buffer.concat([Buffer.from("echo FORGED\nexit 0\n"), Buffer.alloc(3 * 1024 * 1024, 0x23)]);
    const { repo, id } = await forged({
      name: "longer body",
      forge: { files: { assets: { tar: archive(fileEntry("run.sh", longer)), entries: [entry("run.sh", real)] } } },
      path: "run.sh",
      code: 3,
    });
    const r = await runCli(["-c", repo.configFile, "dump", id, "assets", "run.sh"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toMatch(
      /"run\.sh": the archive's file \(3145747 bytes\) does not match the manifest's \(10 bytes/,
    );
  });
});

/** The V8 heap find gets over 200 backups: room for one manifest at a time, not for 200 (see below). */
const FIND_HEAP_MB = 64;

describe("find over many backups", () => {
  it("reads 200 backups one manifest at a time: memory does not grow with their number", async () => {
    const { repo, store } = filesRepo();
    // 2,000 entries each (400,000 in all, ~50 MB of manifests as JSON): held at once they would show.
    const names = Array.from({ length: 2000 }, (_, i) => `f${String(i).padStart(5, "0")}-some-longer-name.txt`);
    names.push("rundown.pdf");
    names.sort(comparePaths);
    const body = Buffer.from("x\n");
    const entries = names.map((n) => entry(n, body));
    const tar = archive();
    const t0 = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = newBackupId(new Date(t0 + i * 1000));
      ids.push(await forgeBackup(store, repo.recipient, { id, files: { assets: { tar, entries } } }));
    }
    // What find bounds is the memory it holds at once, not how late the garbage collector frees what
    // it held before: so both runs get a V8 heap too small for 200 manifests held at once (their spooled
    // entries alone would add over 100 MB), and must still finish. Peak RSS would measure the collector's
    // lag as well, which grows on a loaded machine (45 MB measured on a loaded 2-core host, once 82 MB).
    const env = { NODE_OPTIONS: `--max-old-space-size=${FIND_HEAP_MB}` };
    const many = await runMeasured(["-c", repo.configFile, "--json", "find", "rundown.pdf"], { env });
    expect(many.code, many.stderr).toBe(0);
    const out = JSON.parse(many.stdout);
    expect(out.searched).toBe(200);
    expect(out.matches.map((m: { id: string }) => m.id)).toEqual([...ids].reverse());
    // The same search over the first 10 backups only: 200 backups may take more time, not more memory.
    const few = await runMeasured(
      ["-c", repo.configFile, "--json", "find", "rundown.pdf", "--until", new Date(t0 + 9_500).toISOString()],
      { env },
    );
    expect(few.code, few.stderr).toBe(0);
    expect(JSON.parse(few.stdout).searched).toBe(10);
    console.log(
      `[find] heap cap ${FIND_HEAP_MB} MB: 200 backups ${many.cpuSeconds.toFixed(2)} CPU-s, peak RSS ${many.peakMb.toFixed(0)} MB; ` +
        `10 backups ${few.cpuSeconds.toFixed(2)} CPU-s, ${few.peakMb.toFixed(0)} MB`,
    );
    // The heap cap alone does not catch held manifests: their spooled entries are Buffers, outside the
    // V8 heap (200 trees held at once: 264 MB peak against 116 MB for 10, and the cap never hit). With
    // the cap the collector keeps up, so RSS bounds them again (34 MB apart measured on a loaded host).
    expect(many.peakMb).toBeLessThan(few.peakMb + 75);
    // Time grows with the backups, not worse: loosely, at most twice per backup what 10 took (start-up
    // included). CPU time, not wall time: a busy machine stretches the two runs' wall times unequally.
    expect(many.cpuSeconds).toBeLessThan(few.cpuSeconds * 40);
  }, 600_000);
});
