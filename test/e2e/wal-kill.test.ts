// kill -9 of `wal push` at seeded random points: never a segment that looks archived but is not,
// and PostgreSQL's retry (the same command again) then succeeds and leaves no gap.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseIdentities } from "../../src/crypto/age-keys.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { readWalObject } from "../../src/wal/fetch.js";
import { verifyWal } from "../../src/wal/gap.js";
import { parseWalKey } from "../../src/wal/names.js";
import { makeRepo, runAndKill, runCli, tempDir } from "../helpers/cli.js";
import { mulberry32 } from "../helpers/random.js";
import { runInProcess } from "../helpers/run-in-process.js";
import { makeDataDir, makeSegment, segName, sha256, SEG, SYSID } from "../helpers/wal-craft.js";

const RUNS = 30;
const SEED = 24;

describe("kill -9 of wal push", () => {
  const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "${PG_URL}" }] });
  const data = makeDataDir(tempDir("pgdata-kill"), SYSID);
  const store = new LocalDirStore(join(repo.dir, "repository"));
  const config = repo.write((c) => (c.state_dir = tempDir("walstate")));
  const args = (name: string) => ["-c", config, "wal", "push", join(data, "pg_wal", name), "--system-id", `${SYSID}`];
  const dir = join(repo.dir, "repository", "wal", `${SYSID}`, "00000001");
  const storedOf = (name: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${name}.`)) : []);

  it(`never leaves a segment that looks archived but is not (${RUNS} seeded kill points)`, async () => {
    const identities = parseIdentities(readFileSync(repo.identityFile, "utf8"));
    /** Every object stored for `name` decrypts to exactly `seg`. */
    const expectWhole = async (name: string, seg: Buffer) => {
      const files = storedOf(name);
      expect(files.length, `${name}: ${files.join(", ")}`).toBeLessThanOrEqual(1);
      for (const f of files) {
        expect(f).toBe(`${name}.${sha256(seg)}.zst.age`);
        const k = parseWalKey(`wal/${SYSID}/00000001/${f}`)!;
        const { size } = await readWalObject(store, k, identities, new Writable({ write: (_c, _e, cb) => cb() }));
        expect(size).toBe(SEG);
      }
      return files.length;
    };
    // How long one push takes here: the kill points spread over it.
    const first = segName(1, 0x100);
    writeFileSync(join(data, "pg_wal", first), makeSegment({ sysid: SYSID, tli: 1, segno: 0x100 }));
    const t0 = Date.now();
    expect(await runCli(args(first))).toMatchObject({ code: 0, stderr: "" });
    const span = Date.now() - t0;
    const rand = mulberry32(SEED); // the kill points are the same on every run of the suite
    const outcomes = { killedBefore: 0, killedAfter: 0, finished: 0 };
    for (let i = 1; i <= RUNS; i++) {
      const name = segName(1, 0x100 + i);
      const seg = makeSegment({ sysid: SYSID, tli: 1, segno: 0x100 + i });
      writeFileSync(join(data, "pg_wal", name), seg);
      const r = await runAndKill(args(name), Math.floor(rand() * span * 1.1));
      const n = await expectWhole(name, seg);
      if (!r.killed) {
        expect(r.code, `run ${i} ended by itself`).toBe(0);
        expect(n).toBe(1);
        outcomes.finished++;
      } else if (n) outcomes.killedAfter++;
      else outcomes.killedBefore++;
      // PostgreSQL got no exit 0 (or did): it runs the command again, which must succeed. The retry runs
      // in this process: what it must cope with is what the killed process left on disk, not a process boundary.
      expect(await runInProcess(args(name)), `retry of run ${i}`).toMatchObject({ code: 0, stderr: "" });
      expect(await expectWhole(name, seg)).toBe(1);
    }
    expect(outcomes.killedBefore + outcomes.killedAfter, JSON.stringify(outcomes)).toBeGreaterThanOrEqual(RUNS / 3);
    // No gap: every segment from the first to the last is archived once, and every byte checks out.
    const report = await verifyWal(store, identities, {
      systemId: `${SYSID}`,
      start: { timeline: 1, lsn: 0x100n * BigInt(SEG) },
      segmentSize: SEG,
      deep: true,
    });
    expect(report).toMatchObject({ first: first, last: segName(1, 0x100 + RUNS), segments: RUNS + 1 });
  }, 600_000);
});
