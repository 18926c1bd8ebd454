// Pure logic of differential backups: change detection, dumpdirs, the hostile-input checks on
// `base` and on dumpdirs, and retention keeping bases.
import { describe, expect, it } from "vitest";
import type { ManifestEntry } from "../../src/archive/tar-pack.js";
import type { WalkEntry } from "../../src/archive/walk.js";
import { checkDumpdirs, parseDumpdir } from "../../src/differential/dumpdir-check.js";
import { planDifferential } from "../../src/differential/plan.js";
import type { FullState } from "../../src/differential/state.js";
import { parseComplete } from "../../src/repository/complete.js";
import { applyRetention } from "../../src/retention/policy.js";

const SHA = "a".repeat(64);
const walk = (path: string, type: WalkEntry["type"], o: Partial<WalkEntry> = {}): WalkEntry => ({
  path,
  type,
  size: type === "file" ? 10 : 0,
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: "100.5",
  ino: "7",
  ctime: "100500000000",
  ...o,
});
const state = (entries: FullState["entries"], bytes = 1000): FullState => ({
  format: "strongbox-state/2",
  repository: "r",
  recipients: "x",
  source: "s",
  path: "/p",
  full_id: "20261101T000000Z-aaaaaa",
  full_started_at: "2026-11-01T00:00:00.000Z",
  full_objects: [],
  bytes,
  entries,
  dirs: [],
});
const fileState = (path: string, o: Partial<FullState["entries"][number]> = {}) => ({
  path,
  type: "file" as const,
  size: 10,
  mtime: "100.5",
  ctime: "100500000000",
  ino: "7",
  sha256: SHA,
  ...o,
});

describe("change detection", () => {
  it("a file is unchanged only when type, size, mtime, ctime and inode all match", () => {
    const base = state([
      fileState("a"),
      fileState("b"),
      fileState("c"),
      fileState("d"),
      fileState("e"),
      fileState("f"),
    ]);
    const r = planDifferential(
      [
        walk("a", "file"),
        walk("b", "file", { size: 11 }),
        walk("c", "file", { mtime: "100.6" }),
        walk("d", "file", { ctime: "1" }),
        walk("e", "file", { ino: "8" }),
        walk("f", "symlink", { linkname: "x" }),
        walk("g", "file"),
      ],
      base,
    );
    expect(r.plan).toBeDefined();
    expect([...r.plan!.unchanged.keys()]).toEqual(["a"]);
    expect(r.plan!.unchanged.get("a")).toMatchObject({ sha256: SHA, size: 10 });
    expect(r.plan!.changedFiles).toBe(6);
    expect(r.plan!.dumpdirs.get("")).toBe("Na\0Yb\0Yc\0Yd\0Ye\0Yf\0Yg\0\0");
  });

  it("every directory gets a dumpdir; an empty one is a single NUL", () => {
    const r = planDifferential([walk("d", "dir"), walk("d/e", "dir"), walk("d/x", "file")], state([fileState("d/x")]));
    expect(r.plan!.dumpdirs).toEqual(
      new Map([
        ["", "Dd\0\0"],
        ["d", "De\0Nx\0\0"],
        ["d/e", "\0"],
      ]),
    );
  });

  it("a differential larger than half of the full, or a symlink turned directory, is a full", () => {
    expect(planDifferential([walk("big", "file", { size: 600 })], state([], 1000))).toMatchObject({
      why: expect.stringMatching(/more than half/),
    });
    expect(
      planDifferential(
        [walk("l", "dir")],
        state([{ path: "l", type: "symlink", size: 0, mtime: "1", ctime: "1", ino: "1", target: "x" }]),
      ),
    ).toMatchObject({
      why: "l changed from a symlink to a directory",
    });
  });
});

describe("dumpdirs are hostile input", () => {
  it("parses Y/N/D entries and refuses unsafe names, duplicates and bad framing", () => {
    expect(parseDumpdir("\0")).toEqual(new Map());
    expect(parseDumpdir("Ya\0Db\0\0")).toEqual(
      new Map([
        ["a", "Y"],
        ["b", "D"],
      ]),
    );
    expect(parseDumpdir("N..\0\0")).toMatch(/unsafe name/);
    expect(parseDumpdir("Na/b\0\0")).toMatch(/unsafe name/);
    expect(parseDumpdir("Ya\0Na\0\0")).toMatch(/twice/);
    expect(parseDumpdir("Xa\0\0")).toMatch(/kind/);
    expect(parseDumpdir("Ya\0")).toMatch(/NUL-terminated/);
  });

  const entries: ManifestEntry[] = [
    { path: "d", type: "dir", size: 0, mode: 0o755, mtime: "1" },
    { path: "d/f", type: "file", size: 1, mode: 0o644, mtime: "1", sha256: SHA },
    { path: "top", type: "file", size: 1, mode: 0o644, mtime: "1", sha256: SHA },
  ];
  it("must describe exactly the manifest's tree", () => {
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Dd\0Ntop\0\0"],
          ["d", "Yf\0\0"],
        ]),
      ),
    ).toBeUndefined();
    // A file that vanished while the backup read it may stay listed as Y.
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Dd\0Ntop\0Ygone\0\0"],
          ["d", "Yf\0\0"],
        ]),
      ),
    ).toBeUndefined();
    expect(checkDumpdirs(entries, new Map([["", "Dd\0Ntop\0\0"]]))).toMatch(/no dumpdir for "?d/);
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Dd\0\0"],
          ["d", "Yf\0\0"],
        ]),
      ),
    ).toMatch(/top.* missing from its directory's dumpdir/);
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Yd\0Ntop\0\0"],
          ["d", "Yf\0\0"],
        ]),
      ),
    ).toMatch(/is a dir, its dumpdir says Y/);
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Dd\0Ntop\0Nold\0\0"],
          ["d", "Yf\0\0"],
        ]),
      ),
    ).toMatch(/lists "?old"? \(N\)/);
    expect(
      checkDumpdirs(
        entries,
        new Map([
          ["", "Dd\0Ntop\0\0"],
          ["d", "Yf\0\0"],
          ["top", "\0"],
        ]),
      ),
    ).toMatch(/not a directory of the manifest/);
  });
});

describe("complete.json's base is hostile input", () => {
  const id = "20261122T021500Z-3fa9c1";
  const rec = (base: unknown, o: Record<string, unknown> = {}) =>
    JSON.stringify({
      format: "strongbox/1",
      id,
      started_at: "2026-11-22T02:15:00.100Z",
      finished_at: "2026-11-22T02:16:00.000Z",
      host: "h",
      tool_version: "1",
      compression: "zstd",
      warnings: 0,
      sources: [
        { name: "assets", type: "files" },
        { name: "db", type: "postgres" },
      ],
      objects: [
        { key: `backups/${id}/assets.tar.zst.age`, size: 1, sha256: SHA, source: "assets", base, ...o },
        { key: `backups/${id}/db.pgdump.zst.age`, size: 1, sha256: SHA, source: "db" },
        { key: `backups/${id}/manifest.json.age`, size: 1, sha256: SHA },
      ],
    });
  it("accepts an earlier backup id, refuses anything else", () => {
    expect(parseComplete(rec("20261120T021500Z-000000"), id).objects[0].base).toBe("20261120T021500Z-000000");
    expect(parseComplete(rec(undefined), id).objects[0].base).toBeUndefined();
    for (const bad of ["../20261120T021500Z-000000", id, "20261123T021500Z-000000", 5, "latest"]) {
      expect(() => parseComplete(rec(bad), id), String(bad)).toThrow(/base|earlier/);
    }
  });
});

describe("retention keeps the base of a kept differential", () => {
  it("marks the base 'base of <id>' and drops a differential nobody keeps", () => {
    const t = (d: number) => new Date(Date.UTC(2026, 10, d));
    const ids = ["20261101T000000Z-aaaaaa", "20261102T000000Z-bbbbbb", "20261103T000000Z-cccccc"];
    const decisions = applyRetention(
      [
        { id: ids[0], time: t(1), complete: true, sources: ["assets"] },
        { id: ids[1], time: t(2), complete: true, sources: ["assets"], bases: [ids[0]] },
        { id: ids[2], time: t(3), complete: true, sources: ["assets"], bases: [ids[0]] },
      ],
      { keep_last: 1 },
      { now: t(4) },
    );
    expect(decisions.find((d) => d.id === ids[0])).toMatchObject({ keep: true, reasons: [`base of ${ids[2]}`] });
    expect(decisions.find((d) => d.id === ids[1])).toMatchObject({ keep: false });
  });
});

describe("the default state_dir", () => {
  it("is systemd's StateDirectory when set, else XDG_STATE_HOME (not root) or /var/lib/strongbox (root)", async () => {
    const { defaultStateDir } = await import("../../src/differential/state.js");
    expect(defaultStateDir({ STATE_DIRECTORY: "/var/lib/strongbox:/var/lib/other" })).toBe("/var/lib/strongbox");
    const root = typeof process.getuid === "function" && process.getuid() === 0;
    expect(defaultStateDir({ XDG_STATE_HOME: "/x/state" })).toBe(root ? "/var/lib/strongbox" : "/x/state/strongbox");
  });
});
