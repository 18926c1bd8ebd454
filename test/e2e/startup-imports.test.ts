// What each command loads at start: a command loads its own module graph and no other, so that the
// commands run once per WAL segment or per small backup do not pay for the AWS SDK, the PostgreSQL
// client, the YAML/zod config stack or the age library when they do not use them. Checked by the
// module list a loader hook records (test/helpers/module-trace.mjs), not by timing.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, makeRepo, runCollect, tempDir } from "../helpers/cli.js";
import { makeDataDir, makeSegment, segName, SYSID } from "../helpers/wal-craft.js";

const HOOK = new URL("../helpers/module-trace.mjs", import.meta.url).pathname;

/** Runs the built CLI with the module trace; returns its result and the modules it loaded (package or dist path). */
async function traced(args: string[], cwd?: string) {
  const trace = join(tempDir("trace"), "modules.txt");
  writeFileSync(trace, "");
  const r = await runCollect(process.execPath, ["--import", HOOK, BIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, STRONGBOX_MODULE_TRACE: trace },
  });
  const modules = readFileSync(trace, "utf8")
    .split("\n")
    .filter((u) => u.startsWith("file:"))
    .flatMap(bundledModules)
    .map((u) => u.replace(/^(.*\/)?node_modules\/((@[^/]+\/)?[^/]+).*$/, "$2").replace(/^.*\/dist\//, "dist/"));
  return { ...r, modules: [...new Set(modules)] };
}

// bin/strongbox runs dist/bundle/ (scripts/bundle.mjs); each of its files stands for the modules built into it.
const BUNDLE_INPUTS: Record<string, string[]> = JSON.parse(
  readFileSync(new URL("../../dist/bundle-inputs.json", import.meta.url), "utf8"),
);
function bundledModules(url: string): string[] {
  const m = /\/dist\/bundle\/([^/]+)$/.exec(url);
  if (!m) return [url];
  const inputs = BUNDLE_INPUTS[m[1]!];
  if (!inputs) throw new Error(`${url} is not in dist/bundle-inputs.json: a stale build?`);
  return inputs;
}

const CONFIG_STACK = ["yaml", "zod", "dist/config/load.js", "dist/config/schema.js"];
const HEAVY = ["@aws-sdk/client-s3", "pg", "age-encryption", "@noble/post-quantum", "dist/engine/backup.js"];

describe("start-up: a command loads only what it needs", () => {
  it.each(["--version", "--help", "wal push --help", "backup now --help"])(
    "strongbox %s loads neither the config stack nor any command",
    async (line) => {
      const r = await traced(line.split(" "));
      expect(r.code).toBe(0);
      expect(r.modules).toContain("commander"); // the trace works
      for (const m of [...CONFIG_STACK, ...HEAVY]) expect(r.modules).not.toContain(m);
      // policy-help.js is the --principal help text alone, kept apart from the policy command for this.
      const commands = r.modules.filter((m) => m.startsWith("dist/commands/"));
      expect(commands).toEqual(["dist/commands/policy-help.js"]);
    },
  );

  const repo = makeRepo({ sources: [{ name: "cluster", type: "postgres-cluster", url: "postgres://u@localhost/db" }] });
  const pushConfig = repo.write((c) => {
    delete c.encryption.identity_file;
    c.state_dir = tempDir("walstate");
  });

  it("wal push to file:// with X25519 recipients loads neither the age library, the AWS SDK nor pg", async () => {
    const data = makeDataDir(tempDir("pgdata"), SYSID);
    writeFileSync(join(data, "pg_wal", segName(1, 7)), makeSegment({ sysid: SYSID, tli: 1, segno: 7 }));
    const r = await traced(["-c", pushConfig, "wal", "push", `pg_wal/${segName(1, 7)}`], data);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.modules).toContain("dist/wal/push.js");
    for (const m of HEAVY) expect(r.modules).not.toContain(m);
  });

  it("a backup of a files source to file:// loads neither the age library, the AWS SDK nor pg", async () => {
    const tree = tempDir("tree");
    writeFileSync(join(tree, "a.txt"), "a small file\n");
    const files = makeRepo({ sources: [{ name: "files", type: "files", path: tree }] });
    const r = await traced(["-q", "-c", files.configFile, "backup", "now"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.modules).toContain("dist/engine/backup.js");
    for (const m of HEAVY.filter((h) => h !== "dist/engine/backup.js")) expect(r.modules).not.toContain(m);
    // node:http and node:https load only when a notification is sent.
    expect(r.modules).not.toContain("dist/net/builtins.js");
  });
});
