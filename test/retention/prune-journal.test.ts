import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pruneJournal } from "../../src/retention/prune-journal.js";
import { tempDir } from "../helpers/temp-dir.js";

describe("pruneJournal", () => {
  const ids = ["20261201T010203Z-abcdef", "20261202T010203Z-012345"];

  it("records ids before deletes, reads them back, and is empty once the run ended", async () => {
    const dir = tempDir("journal");
    const j = pruneJournal(dir, "file:///repo");
    expect((await j.pending()).ids).toEqual([]);
    const before = Date.now();
    await j.begin(ids);
    const recorded = await j.pending();
    expect(recorded.ids).toEqual(ids);
    expect(recorded.startedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(recorded.startedAt!.getTime()).toBeLessThanOrEqual(Date.now());
    // Another repository's journal is another file.
    expect((await pruneJournal(dir, "file:///other").pending()).ids).toEqual([]);
    await j.end();
    expect((await j.pending()).ids).toEqual([]);
    expect(readdirSync(join(dir, "prune"))).toEqual([]);
  });

  it("ignores junk: not JSON, another format, ids that are not backup ids", async () => {
    const dir = tempDir("journal");
    const j = pruneJournal(dir, "file:///repo");
    await j.begin(ids);
    const file = join(dir, "prune", readdirSync(join(dir, "prune"))[0]);
    writeFileSync(file, "{not json");
    expect((await j.pending()).ids).toEqual([]);
    writeFileSync(
      file,
      JSON.stringify({ format: "strongbox/1 prune-intent", repository: "file:///repo", ids: ["../../etc", ids[0], 7] }),
    );
    expect((await j.pending()).ids).toEqual([ids[0]]);
    writeFileSync(file, JSON.stringify({ format: "other", repository: "file:///repo", ids }));
    expect((await j.pending()).ids).toEqual([]);
  });
});
