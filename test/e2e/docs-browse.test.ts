// README "Browsing and partial restores": its command block, run as printed (only the values of the
// variables on its first lines filled in) against a full and a differential.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, runCli, tempDir } from "../helpers/cli.js";
import { secondApart } from "../helpers/backup-clock.js";

const root = new URL("../../", import.meta.url).pathname;
const heading = "## Browsing and partial restores";
const readme = readFileSync(join(root, "README.md"), "utf8");
const text = readme.slice(readme.indexOf(heading), readme.indexOf("\n## ", readme.indexOf(heading) + heading.length));
const [block] = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

function fill(script: string, values: Record<string, string>): string {
  let out = script;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^${name}=\\S+`, "m");
    expect(out, `the block sets ${name}`).toMatch(re);
    out = out.replace(re, `${name}='${value}'`);
  }
  return out;
}

describe("README: Browsing and partial restores", () => {
  it("its command block runs as printed", async () => {
    expect(block).toBeDefined();
    const data = tempDir("docs-browse-data");
    mkdirSync(join(data, "projects/alpha"), { recursive: true });
    writeFileSync(join(data, "projects/alpha/plan.txt"), "plan v1\n");
    writeFileSync(join(data, "projects/alpha/raw.bin"), "raw\n");
    writeFileSync(join(data, "rundown.pdf"), "rundown\n");
    const repo = makeRepo({
      sources: [{ name: "assets", type: "files", path: data, differential: { full_every: "7d" } }],
    });
    repo.config.state_dir = join(repo.dir, "state");
    repo.config.lock_dir = repo.dir;
    repo.write();
    const clock = secondApart();
    const ids: string[] = [];
    for (const change of ["", "plan v2\n"]) {
      if (change) writeFileSync(join(data, "projects/alpha/plan.txt"), change);
      const r = await runCli(["-c", repo.configFile, "--json", "backup", "now"], { env: clock() });
      expect(r.code).toBe(0);
      ids.push(JSON.parse(r.stdout).id);
    }
    const restore = join(tempDir("docs-browse-to"), "restore");
    const cwd = tempDir("docs-browse-cwd");
    const out = execFileSync(
      "bash",
      ["-euo", "pipefail", "-c", fill(block, { FULL: ids[0], DIFF: ids[1], RESTORE: restore })],
      {
        cwd,
        encoding: "utf8",
        env: {
          PATH: `${dirname(BIN)}:${process.env.PATH}`,
          HOME: process.env.HOME,
          TMPDIR: process.env.TMPDIR,
          STRONGBOX_CONFIG: repo.configFile,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    expect(out).toMatch(/^file\s+0644\s+8\s+\S+\s+assets\/projects\/alpha\/plan\.txt$/m);
    expect(out).toMatch(new RegExp(`^${ids[1]}\\s+file\\s+8\\s+\\S+\\s+assets/rundown\\.pdf$`, "m"));
    expect(out).toContain("M assets/projects/alpha/plan.txt (8 B -> 8 B)");
    expect(readFileSync(join(cwd, "plan.txt"), "utf8")).toBe("plan v2\n");
    expect(readFileSync(join(restore, "assets/projects/alpha/plan.txt"), "utf8")).toBe("plan v2\n");
    expect(() => readFileSync(join(restore, "assets/projects/alpha/raw.bin"))).toThrow();
    expect(() => readFileSync(join(restore, "assets/rundown.pdf"))).toThrow();
  }, 180_000);
});
