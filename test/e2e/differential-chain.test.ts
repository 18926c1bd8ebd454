// verify is restore into a null sink (issue 20): one pass over a files source, across a differential
// and its base full, with one namespace. Every crafted case below, made with only the writer's powers
// and the public recipient, must get the SAME verdict from verify, restore and drill: exit 3 naming
// the problem, and nothing written outside the restore target. Each of them once got exit 0 from
// verify (and exit 1 or 3 from restore), or passed all three.
import { execSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { newBackupId } from "../../src/repository/layout.js";
import { makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
// No process boundary is needed here (file:// repositories, no signals or timing): main() runs in-process.
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { secondApart } from "../helpers/backup-clock.js";
import { forgeBackup, sha256 } from "../helpers/forge.js";
import { archive, fileEntry, paxHeader, paxRecord, rawHeader } from "../helpers/tar-craft.js";

type Entry = Record<string, unknown>;
const MTIME = "1462140300";
const file = (path: string, body: string): Entry => ({
  path,
  type: "file",
  size: Buffer.byteLength(body),
  mode: 0o644,
  mtime: MTIME,
  sha256: sha256(Buffer.from(body)),
});
const dir = (path: string): Entry => ({ path, type: "dir", size: 0, mode: 0o755, mtime: MTIME });
const link = (path: string, target: string): Entry => ({
  path,
  type: "symlink",
  size: 0,
  mode: 0o777,
  mtime: MTIME,
  target,
});
const dirHeader = (name: string, dumpdir?: string) =>
  Buffer.concat([
    ...(dumpdir === undefined ? [] : [paxHeader(paxRecord("GNU.dumpdir", dumpdir))]),
    rawHeader({ name: `${name}/`, typeflag: "5", mode: "0000755\0" }),
  ]);
const linkHeader = (name: string, target: string) =>
  rawHeader({ name, typeflag: "2", linkname: target, mode: "0000777\0" });
const root = (dumpdir: string) => dirHeader(".", dumpdir);

/** A directory outside every restore target that a forged symlink points at: it must stay empty. */
const canary = tempDir("chain-canary");

interface Case {
  what: string;
  /** A differential's base full (tar, manifest entries); none: the case is a full. */
  base?: { tar: Buffer; entries: Entry[] };
  tar: Buffer;
  entries: Entry[];
  /** What every one of verify, restore and drill must say. */
  says: RegExp;
}

const cases: Case[] = [
  {
    what: "a differential that writes below a symlink its base provides",
    base: {
      tar: archive(fileEntry("keep", "k"), linkHeader("s", canary)),
      entries: [file("keep", "k"), link("s", canary)],
    },
    tar: archive(root("Nkeep\0Ns\0\0"), fileEntry("s/evil", "owned")),
    entries: [file("keep", "k"), link("s", canary), file("s/evil", "owned")],
    says: /"s\/evil" lies below "s", which is a symlink/,
  },
  {
    what: "a differential that replaces a base directory with a symlink",
    base: {
      tar: archive(dirHeader("d"), fileEntry("d/f", "f"), fileEntry("keep", "k")),
      entries: [dir("d"), file("d/f", "f"), file("keep", "k")],
    },
    tar: archive(root("Yd\0Nkeep\0\0"), linkHeader("d", canary)),
    entries: [link("d", canary), file("keep", "k")],
    says: /"d" is a dir in the base and a symlink in the differential/,
  },
  {
    what: "a full whose PAX linkpath holds a NUL byte",
    tar: archive(paxHeader(paxRecord("linkpath", "a\0/etc")), linkHeader("l", "a")),
    entries: [link("l", "a")],
    says: /symlink target with a NUL byte/,
  },
  {
    what: "a full whose symlink target differs from the manifest",
    tar: archive(fileEntry("a", "a"), linkHeader("l", canary)),
    entries: [file("a", "a"), link("l", "a")],
    says: /l \(symlink target ".*chain-canary.*", manifest says "a"\)/,
  },
  {
    what: "a file of the base that becomes a directory in the differential",
    base: {
      tar: archive(fileEntry("keep", "k"), fileEntry("x", "was a file")),
      entries: [file("keep", "k"), file("x", "was a file")],
    },
    tar: archive(root("Nkeep\0Dx\0\0"), dirHeader("x", "Yin\0\0"), fileEntry("x/in", "in")),
    entries: [file("keep", "k"), dir("x"), file("x/in", "in")],
    says: /"x" is a file in the base and a dir in the differential/,
  },
  {
    what: "a directory of the base that becomes a file in the differential",
    base: { tar: archive(dirHeader("d"), fileEntry("d/f", "f")), entries: [dir("d"), file("d/f", "f")] },
    tar: archive(root("Yd\0\0"), fileEntry("d", "now a file")),
    entries: [file("d", "now a file")],
    says: /"d" is a dir in the base and a file in the differential/,
  },
  {
    what: "a base symlink that becomes a directory holding a file",
    base: { tar: archive(linkHeader("s", canary)), entries: [link("s", canary)] },
    tar: archive(root("Ds\0\0"), dirHeader("s", "Yevil\0\0"), fileEntry("s/evil", "owned")),
    entries: [dir("s"), file("s/evil", "owned")],
    says: /"s" is a symlink in the base and a dir in the differential/,
  },
  {
    what: "a base file with a file below it in the differential (no directory entry)",
    base: { tar: archive(fileEntry("f", "f")), entries: [file("f", "f")] },
    tar: archive(root("Nf\0\0"), fileEntry("f/g", "g")),
    entries: [file("f", "f"), file("f/g", "g")],
    says: /"f\/g" lies below "f", which is a file in the base/,
  },
  {
    what: "a dumpdir that keeps a base directory (N) the manifest does not hold",
    base: {
      tar: archive(dirHeader("d"), fileEntry("d/secret", "s"), fileEntry("keep", "k")),
      entries: [dir("d"), file("d/secret", "s"), file("keep", "k")],
    },
    tar: archive(root("Nd\0Nkeep\0\0")),
    entries: [file("keep", "k")],
    says: /dumpdir of "\." lists "d" \(N\), which the manifest does not/,
  },
  {
    what: "a dumpdir that lists a vanished file (Y) the manifest has no warning for",
    base: { tar: archive(fileEntry("keep", "k")), entries: [file("keep", "k")] },
    tar: archive(root("Ygone\0Nkeep\0\0")),
    entries: [file("keep", "k")],
    says: /lists "gone" \(Y\), which the archive does not hold: more such names than the 0 files/,
  },
  {
    what: "a base file marked unchanged whose content is not the manifest's",
    base: { tar: archive(fileEntry("keep", "base bytes")), entries: [file("keep", "base bytes")] },
    tar: archive(root("Nkeep\0\0")),
    entries: [file("keep", "other byte")],
    says: /keep \(SHA-256 differs from the manifest\)/,
  },
];

function repoWithBase(): TestRepo {
  const data = tempDir("chain-data");
  writeFileSync(join(data, "x"), "x\n");
  const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
  return repo;
}

/** Output with JSON's escaped quotes undone (failed checks are logged as JSON). */
const plain = (s: string) => s.replace(/\\"/g, '"');

const idAt = (secondsAgo: number) => newBackupId(new Date(Date.now() - secondsAgo * 1000));

async function forge(repo: TestRepo, c: Case): Promise<string> {
  const store = join(repo.dir, "repository");
  const baseId = c.base
    ? await forgeBackup(store, repo.recipient, { id: idAt(60), files: { assets: c.base } })
    : undefined;
  return forgeBackup(store, repo.recipient, {
    id: idAt(30),
    files: { assets: { tar: c.tar, entries: c.entries } },
    ...(baseId
      ? {
          manifest: (m) => Object.assign(m.sources.assets, { base: baseId, stored_files: 0, stored_bytes: 0 }),
          complete: (x) => (x.objects[0].base = baseId),
        }
      : {}),
  });
}

describe("verify, restore and drill reach the same verdict on every crafted case (one pass, one namespace)", () => {
  it.each(cases.map((c) => [c.what, c] as const))(
    "%s: exit 3 from all three, nothing written outside the target",
    async (_what, c) => {
      const repo = repoWithBase();
      const id = await forge(repo, c);

      const v = await runCli(["-c", repo.configFile, "verify", id]);
      expect(v.code, `verify: ${v.stdout}${v.stderr}`).toBe(3);
      expect(plain(v.stdout + v.stderr)).toMatch(c.says);

      const where = tempDir("chain-restore");
      const r = await runCli(["-c", repo.configFile, "restore", id, "--to-dir", join(where, "t")]);
      expect(r.code, `restore: ${r.stdout}${r.stderr}`).toBe(3);
      expect(plain(r.stdout + r.stderr)).toMatch(c.says);
      expect(readdirSync(where).filter((n) => n !== "t")).toEqual([]);

      const d = await runCli(["-c", repo.configFile, "--json", "drill", id]);
      expect(d.code, `drill: ${d.stdout}${d.stderr}`).toBe(3);
      expect(plain(d.stdout + d.stderr)).toMatch(c.says);

      expect(readdirSync(canary)).toEqual([]);
    },
  );

  it("the base-symlink case is the hazard the docs warn of: GNU tar's hand restore writes through the symlink", async () => {
    const c = cases[0];
    const repo = repoWithBase();
    const id = await forge(repo, c);
    const backups = join(repo.dir, "repository/backups");
    const baseId = readdirSync(backups).find((x) => x !== id)!;
    const out = tempDir("chain-hand");
    for (const x of [baseId, id])
      execSync(
        `age -d -i '${repo.identityFile}' '${join(backups, x, "assets.tar.zst.age")}' | zstd -d | tar -x -g /dev/null -C '${out}'`,
      );
    try {
      // This is why the docs say: check the signature and verify before a hand restore.
      expect(readdirSync(canary)).toEqual(["evil"]);
    } finally {
      unlinkSync(join(canary, "evil"));
    }
  });
});

describe("the backup side never writes a type change GNU tar cannot apply", () => {
  const clock = secondApart(); // one after the other in-process: distinct, increasing seconds
  async function backup(repo: TestRepo): Promise<{ id: string; kind: string; log: string }> {
    const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: clock() });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    return { id: out.id, kind: out.sources[0].kind, log: r.stderr };
  }

  it("file -> directory, directory -> file, directory -> symlink each make the next backup a full; other changes stay differential and verify", async () => {
    const data = tempDir("chain-plan");
    writeFileSync(join(data, "pad.bin"), Buffer.alloc(200_000, 7));
    writeFileSync(join(data, "f"), "file\n");
    mkdirSync(join(data, "d"));
    writeFileSync(join(data, "d/in"), "in\n");
    mkdirSync(join(data, "e"));
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.write();
    expect((await backup(repo)).kind).toBe("full");

    writeFileSync(join(data, "f"), "changed\n");
    const same = await backup(repo);
    expect(same.kind).toBe("diff");

    unlinkSync(join(data, "f"));
    mkdirSync(join(data, "f"));
    const f = await backup(repo);
    expect(f.kind).toBe("full");
    expect(f.log).toMatch(/f changed from a file to a directory/);

    execSync(`rm -r '${join(data, "d")}'`);
    writeFileSync(join(data, "d"), "now a file\n");
    const d = await backup(repo);
    expect(d.kind).toBe("full");
    expect(d.log).toMatch(/d changed from a directory to a file/);

    execSync(`rmdir '${join(data, "e")}'`);
    symlinkSync("pad.bin", join(data, "e"));
    const e = await backup(repo);
    expect(e.kind).toBe("full");
    expect(e.log).toMatch(/e changed from a directory to a symlink/);

    const v = await runCli(["-c", repo.configFile, "verify", "all"]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
  });
});
