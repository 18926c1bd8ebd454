// Issue 22 item 23: a full state directory (a real, tiny tmpfs) while a full is made the base of
// differentials. The backup stays committed; the warning must say what the next backup really is
// (it said "full" while the earlier state, left whole, made it a differential on an older full),
// and a partly written state must never be left where it could be read.
import { execSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configSchema } from "../../src/config/schema.js";
import { stateOwner } from "../../src/differential/owner.js";
import { statePath } from "../../src/differential/state.js";
import { makeRepo, runCli, tempDir, type TestRepo } from "../helpers/cli.js";

const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];

afterAll(() => {
  for (const m of mounts.splice(0)) execSync(`umount '${m}'`);
});

function tinyDisk(size: string): string {
  const mnt = tempDir("state-disk");
  execSync(`mount -t tmpfs -o size=${size} tmpfs '${mnt}'`);
  mounts.push(mnt);
  return mnt;
}

/** Fills the disk but for `leave` bytes; returns the filler to remove. */
function fill(mnt: string, leave: number): string {
  const filler = join(mnt, "filler");
  const st = statfsSync(mnt);
  writeFileSync(filler, Buffer.alloc(st.bavail * st.bsize - leave));
  return filler;
}

/** 400 files: the state lists each with its hash, some 80 KB, far more than the 8 KB left free. */
function sourceTree(): string {
  const dir = tempDir("state-src");
  for (let i = 0; i < 400; i++) writeFileSync(join(dir, `file-${String(i).padStart(4, "0")}.txt`), `file ${i}\n`);
  return dir;
}

function repoWithState(stateDir: string): { repo: TestRepo; file: string } {
  const repo = makeRepo({
    sources: [{ name: "tree", type: "files", path: sourceTree(), differential: { full_every: "7d" } }],
  });
  repo.config.state_dir = stateDir;
  repo.write();
  return { repo, file: statePath(stateOwner(configSchema.parse(repo.config)), "tree") };
}

async function backup(
  repo: TestRepo,
  args: string[] = [],
): Promise<{ id: string; kind: string; base?: string; stderr: string }> {
  const r = await runCli(["-c", repo.configFile, "--json", "backup", "now", ...args]);
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  return { id: out.id, kind: out.sources[0].kind, base: out.sources[0].base, stderr: r.stderr };
}

/** A PID no process has now: a temporary state file named after it is a killed run's. */
function deadPid(): number {
  for (let pid = 32_000; pid > 1000; pid--) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") return pid;
    }
  }
  throw new Error("no free PID");
}

describe.skipIf(!isRoot)("a full state directory (issue 22 item 23)", () => {
  it(
    "--full: no temporary file is left, the earlier state (of an older full, which prune may now delete) is removed, the warning says so, and the next backup is a full",
    { timeout: 120_000 },
    async () => {
      const mnt = tinyDisk("512k");
      const { repo, file } = repoWithState(mnt);
      const first = await backup(repo);
      expect(first.kind).toBe("full");
      expect(readFileSync(file).length).toBeGreaterThan(40_000);
      // A killed run's temporary file: never read, and removed, since it takes the directory's room.
      const stale = `${file}.${deadPid()}.tmp`;
      writeFileSync(stale, "partly written");
      const filler = fill(mnt, 8192);

      const forced = await backup(repo, ["--full"]);
      expect(forced.kind).toBe("full");
      const warning = forced.stderr.split("\n").find((l) => l.includes("cannot write the differential state"));
      expect(warning).toMatch(/ENOSPC/);
      expect(warning).toContain(
        `the earlier state (of full ${first.id}) was removed, so that no differential is based on a full older than this one, and the next backup is a full`,
      );
      // Nothing partly written is left, nor the earlier state.
      expect(readdirSync(dirname(file))).toEqual([]);

      rmSync(filler);
      const next = await backup(repo);
      expect(next.kind).toBe("full");
      // ...and that full is the base of the next differential again.
      expect((await backup(repo)).base).toBe(next.id);
    },
  );

  it("with no earlier state: the warning says the next backup is a full, and it is", { timeout: 120_000 }, async () => {
    const mnt = tinyDisk("512k");
    const { repo, file } = repoWithState(mnt);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const filler = fill(mnt, 8192);
    const first = await backup(repo);
    expect(first.kind).toBe("full");
    const warning = first.stderr.split("\n").find((l) => l.includes("cannot write the differential state"));
    expect(warning).toMatch(/ENOSPC/);
    expect(warning).toContain(
      "no state of a full is kept (no state of a previous full on this host), so the next backup is a full",
    );
    expect(readdirSync(dirname(file))).toEqual([]);

    rmSync(filler);
    const next = await backup(repo);
    expect(next.kind).toBe("full");
    expect(next.stderr).toMatch(/full backup: no state of a previous full on this host/);
  });
});
