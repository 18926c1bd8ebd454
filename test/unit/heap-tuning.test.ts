import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { V8_FLAGS } from "../../src/v8-flags.js";

// Each check runs in a process of its own: V8's flags are the process's, and this one runs other test
// files too. That heap-tuning.ts applies exactly this list, first, is checked on the bundle that
// bin/strongbox runs (test/e2e/bundle-workers.test.ts).
describe("the V8 flags every command sets", () => {
  it("are all flags this Node's V8 knows", () => {
    const options = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 20_000 }).stdout;
    expect(V8_FLAGS.length).toBeGreaterThan(0);
    for (const flag of V8_FLAGS) {
      const name = flag.replace(/=.*$/, "");
      expect(options, name).toMatch(new RegExp(`^\\s+${name}\\s`, "m"));
    }
  });

  it("are set without a word on stderr (V8 prints an error for a flag or value it does not take)", () => {
    const apply = 'for (const f of JSON.parse(process.argv[1])) require("node:v8").setFlagsFromString(f);';
    const run = (flags: readonly string[]) =>
      spawnSync(process.execPath, ["-e", apply, JSON.stringify(flags)], { encoding: "utf8", timeout: 20_000 });
    const ours = run(V8_FLAGS);
    expect(ours.stderr).toBe("");
    expect(ours.status).toBe(0);
    // So an empty stderr does mean "taken".
    expect(run(["--no-such-flag-at-all=1"]).stderr).toMatch(/unrecognized flag/);
  });
});
