// --target-time/--target-lsn/--target-xid/--target-action say where a cluster's recovery stops. A
// restore that holds no cluster would ignore them: the operator thinks they restored "as of 03:00"
// and got the whole backup. That is a usage error (exit 2), before anything is written.
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("restore: recovery target flags without a cluster", () => {
  it("are refused for a files restore", async () => {
    const data = tempDir("tflags-data");
    writeFileSync(join(data, "a.txt"), "a\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }] });
    expect((await runCli(["-c", repo.configFile, "backup", "now"])).code).toBe(0);
    for (const flag of [
      ["--target-time", "2026-12-05T03:00:00Z"],
      ["--target-lsn", "0/3000028"],
      ["--target-xid", "1234"],
      ["--start"],
    ]) {
      const to = tempDir("tflags-to");
      const r = await runCli(["-c", repo.configFile, "restore", "latest", "--to-dir", to, ...flag]);
      expect([flag[0], r.code]).toEqual([flag[0], 2]);
      expect(r.stderr).toMatch(new RegExp(`${flag[0]}.*cluster`));
      expect(readdirSync(to)).toEqual([]);
    }
  }, 120_000);
});
