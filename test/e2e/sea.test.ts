// The single-file executable (npm run build:sea): built here, then run with no node on PATH at all.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/cli.js";
import { snapshotTree } from "../helpers/tree.js";

const root = new URL("../../", import.meta.url).pathname;
const exe = join(root, `dist/sea/strongbox-${process.platform}-${process.arch}`);
const version = JSON.parse(execFileSync("cat", [join(root, "package.json")]).toString()).version;

/** Runs the executable with a PATH that holds no node (nor anything else). */
function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const empty = join(cwd, "empty-bin");
  mkdirSync(empty, { recursive: true });
  return new Promise((resolve) => {
    const child = spawn(exe, args, { cwd, env: { PATH: empty, HOME: cwd }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe("single-file executable (Node SEA)", () => {
  beforeAll(() => {
    // dist/ is fresh (the suite builds it first); this bundles it and injects it into a copy of node.
    execFileSync(process.execPath, [join(root, "scripts/build-sea.mjs")], { stdio: ["ignore", "ignore", "pipe"] });
  }, 120_000);

  it("runs with no node on PATH: --version, init, backup, verify and an exact restore", async () => {
    const work = tempDir("sea");
    const data = join(work, "data");
    mkdirSync(join(data, "ASSETS/ä dir"), { recursive: true });
    writeFileSync(join(data, "ASSETS/ä dir/clip.bin"), Buffer.alloc(300_000, 5));
    writeFileSync(join(data, "rundown.json"), "{}\n");
    expect((await run(["--version"], work)).stdout.trim()).toBe(version);
    const init = await run(["init", join(work, "cfg"), "--files", data], work);
    expect(init.code).toBe(0);
    const cfg = join(work, "cfg/strongbox.yaml");
    const b = await run(["-c", cfg, "--json", "backup", "now"], work);
    expect(b.stderr).not.toMatch(/"level":"error"/);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const v = await run(["-c", cfg, "verify", id], work);
    expect(v.stdout.trim()).toBe(`${id}  OK`);
    const r = await run(["-c", cfg, "restore", id, "--to-dir", join(work, "restored")], work);
    expect(r.code).toBe(0);
    expect(snapshotTree(join(work, "restored/data"))).toEqual(snapshotTree(data));
  });
});
