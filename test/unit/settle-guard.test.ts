import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const guard = new URL("../../dist/settle-guard.js", import.meta.url).href;

function run(body: string) {
  const script = `import { guardUnsettled } from ${JSON.stringify(guard)};\n${body}`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
}

describe("a command can never end 'successfully' with its work unsettled", () => {
  it("a promise that never settles (a stalled stream) exits 1 with a clear message", () => {
    const r = run("guardUnsettled(new Promise(() => {}));");
    expect(r.stderr).toMatch(/stopped with work still pending/);
    expect(r.status).toBe(1);
  });

  it("a stalled stream: a readable nobody reads, awaited to its end", () => {
    const r = run(`import { PassThrough } from "node:stream"; import { finished } from "node:stream/promises";
      const s = new PassThrough(); s.write(Buffer.alloc(1 << 20)); guardUnsettled(finished(s));`);
    expect(r.stderr).toMatch(/stopped with work still pending/);
    expect(r.status).toBe(1);
  });

  it("settled work is left alone: exit code and output unchanged", () => {
    const r = run("guardUnsettled(new Promise((ok) => setTimeout(ok, 50)).then(() => { process.exitCode = 0; }));");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
