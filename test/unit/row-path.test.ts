// How ls, find and diff show a path read from a manifest (hostile input): as it is when that reads
// unambiguously, else quoted with escapes, so that no forged name passes for something it is not.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { Rows } from "../../src/commands/browse.js";
import { CommandContext } from "../../src/commands/context.js";
import { quoteName, rowPath } from "../../src/terminal-safe.js";

describe("rowPath", () => {
  it.each([
    ["assets/clip 1.mov", "assets/clip 1.mov"],
    ["assets/Report (final).pdf", "assets/Report (final).pdf"],
    ["assets/x -> /etc/passwd", '"assets/x -> /etc/passwd"'],
    ["assets/\\x1b[31m", '"assets/\\\\x1b[31m"'],
    ["assets/\u001b[31m", '"assets/\\x1b[31m"'],
    ['assets/"quoted"', '"assets/\\"quoted\\""'],
    ["assets/a\nb\tc", '"assets/a\\nb\\tc"'],
    ["assets/trailing ", '"assets/trailing "'],
    [" leading", '" leading"'],
    ["assets/\u202egnp.exe", '"assets/\\u202egnp.exe"'],
  ])("%j is shown as %s", (name, shown) => {
    expect(rowPath(name)).toBe(shown);
  });

  it("a literal backslash-x escape and the control character it names look different", () => {
    expect(rowPath("a\\x07")).not.toBe(rowPath("a\u0007"));
    // in messages too (restore, verify: quoteName), now that names may hold a backslash
    expect(quoteName("a\\x1b")).toBe('"a\\\\x1b"');
    expect(quoteName("a\u001b")).toBe('"a\\x1b"');
    expect(quoteName('say "hi"')).toBe('"say \\"hi\\""');
  });
});

describe("browse rows into a reader that is behind", () => {
  it("wait for the pipe: what is buffered stays within one write's worth over the high-water mark", async () => {
    let release: (() => void) | null = null;
    let maxBuffered = 0;
    const out = new Writable({
      highWaterMark: 4096,
      write(_chunk, _enc, cb) {
        release = cb; // taken only when the test says so: a reader that is behind
      },
    });
    const ctx = new CommandContext({}, {}, out);
    const rows = new Rows<number>(ctx, (n) => `row ${n} ${"x".repeat(100)}`);
    const adding = (async () => {
      for (let i = 0; i < 2000; i++) {
        const wait = rows.add(i);
        maxBuffered = Math.max(maxBuffered, out.writableLength);
        await wait;
      }
    })();
    let done = false;
    void adding.then(() => (done = true));
    // Take a write at a time until all 2,000 rows are through.
    while (!done) {
      await new Promise((r) => setImmediate(r));
      const r = release as (() => void) | null;
      release = null;
      r?.();
    }
    expect(rows.count).toBe(2000);
    expect(maxBuffered).toBeGreaterThanOrEqual(4096); // it did fill the pipe: the test exercised the wait
    expect(maxBuffered).toBeLessThan(4096 + 200);
  });
});
