// Issue 22 item 16: the --json channel writes one document, once, with a failure folded into the result.
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JsonOutput } from "../../src/json-output.js";
import { tempDir } from "../helpers/cli.js";

function channel(): { out: JsonOutput; text: () => string } {
  const file = join(tempDir("json-out"), "stdout");
  const out = new JsonOutput(openSync(file, "w"));
  out.enabled = true;
  return { out, text: () => readFileSync(file, "utf8") };
}

const failure = { error: "verification failed", error_code: "VERIFY", exit_code: 3 };

describe("JsonOutput", () => {
  it("a result, then a failure: one document, the error beside the result", () => {
    const { out, text } = channel();
    out.set({ ok: false, backups: [{ id: "a", ok: false }] });
    out.finish(failure);
    out.finish(); // a second end (a forced exit racing the normal one) writes nothing
    expect(JSON.parse(text())).toEqual({ ok: false, backups: [{ id: "a", ok: false }], ...failure });
  });

  it("an array result moves under `result` on failure; stays as it is on success", () => {
    const a = channel();
    a.out.set([{ result: "fail" }, { result: "pass" }]);
    a.out.finish(failure);
    expect(JSON.parse(a.text())).toEqual({ ok: false, ...failure, result: [{ result: "fail" }, { result: "pass" }] });
    const b = channel();
    b.out.set([1, 2]);
    b.out.finish();
    expect(JSON.parse(b.text())).toEqual([1, 2]);
  });

  it("no result: {ok:true} on success, the failure alone otherwise; the last result wins", () => {
    const a = channel();
    a.out.finish();
    expect(JSON.parse(a.text())).toEqual({ ok: true });
    const b = channel();
    b.out.finish(failure);
    expect(JSON.parse(b.text())).toEqual({ ok: false, ...failure });
    const c = channel();
    c.out.set({ n: 1 });
    c.out.set({ n: 2 });
    c.out.finish();
    expect(JSON.parse(c.text())).toEqual({ n: 2 });
  });

  it("writes nothing without --json", () => {
    const { out, text } = channel();
    out.enabled = false;
    out.set({ x: 1 });
    out.finish(failure);
    expect(text()).toBe("");
  });
});
