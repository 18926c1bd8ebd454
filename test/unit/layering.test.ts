// The shape of src/, checked in-process (docs/architecture.md explains it): no import points up a layer,
// no import cycle, no function over 80 lines, no block of 6+ lines copied. Where today's code breaks a
// rule, the offender is listed below with why. The lists are ratchets: they may only shrink. A listed
// offender that is fixed fails the test until its line is deleted, and a new one fails it at once.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  copiedBlocks,
  importCycles,
  importEdges,
  longFunctions,
  readTree,
  type ImportEdge,
  type SourceFile,
} from "../helpers/code-shape.js";

/**
 * The layers of src/, lowest first: a module may import its own layer and the ones before it, never a
 * later one. An entry is a folder ("stores/"), a file ("cli.ts"), or "*.ts" for the other files directly
 * in src/. Every file of src/ must fall in a layer, so a new folder has to be placed here first.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["*.ts"], // errors, system-error, secrets, log, progress, json-output, process-alive …: used everywhere
  ["time/", "net/", "codecs/"],
  ["crypto/"],
  ["config/"],
  ["archive/"],
  ["stores/"],
  ["repository/"],
  ["retention/"],
  ["differential/"],
  ["sources/"],
  ["wal/"],
  ["engine/"],
  ["browse/"],
  ["notify/", "scheduler/"],
  ["commands/"],
  ["cli.ts"],
];

/**
 * Imports that point up a layer today: small parsers or types that sit in a higher folder than their users.
 * (The codecs' ones went when compress and hashing left pipeline/ for codecs/.)
 */
const UPWARD_ALLOWED = [
  "archive/tree-pass.ts -> sources/tree-check.ts", // TreeMatch (and ExtractedFile) belong with the tree pass
  "config/schema.ts -> sources/postgres/url.ts", // parsePgUrl validates the config's URLs
  "crypto/signing.ts -> config/schema.ts", // the Config type, for trustPolicy()
  "repository/options.ts -> retention/plausible-time.ts", // the store-clock judge lives with retention
  "repository/repository.ts -> retention/plausible-time.ts", // the store-clock judge lives with retention
];

/**
 * Functions over MAX_FUNCTION_LINES today (lines as of issue 23), to be broken up: the commands along the
 * one command lifecycle, the runners into engine/ (issue 23), the rest where they are next changed.
 */
const LONG_ALLOWED = [
  "archive/extract.ts:diskSink",
  "archive/tar-pack.ts:packTar",
  "archive/tar-pack.ts:generate",
  "archive/tree-pass.ts:readTree",
  "cli.ts:buildProgram",
  "commands/doctor.ts:doctorCommand",
  "engine/drill/drill.ts:runDrill",
  "engine/backup.ts:runBackup",
  "repository/complete.ts:parseComplete",
  "engine/restore-script.ts:renderRestoreScript",
  "sources/files.ts:FilesSource.backup",
  "stores/s3.ts:S3Store.put",
  // Over 80 lines since Prettier wrapped them at 120 columns (the mechanical format commit).
  "archive/tar-read.ts:TarReader.next",
  "commands/list.ts:listCommand",
  "commands/policy.ts:policyFor",
  "engine/backup.ts:backupSource",
  "scheduler/health.ts:DaemonMetrics.prometheus",
];

/** Copied blocks today ("a ~ b" as copiedBlocks reports them). */
const COPIES_ALLOWED: string[] = [];

const MAX_FUNCTION_LINES = 80;
const MIN_COPY_LINES = 6;

export function layerOf(path: string): number {
  const exact = LAYERS.findIndex((l) => l.includes(path));
  if (exact >= 0) return exact;
  const folder = path.includes("/") ? path.slice(0, path.indexOf("/") + 1) : "*.ts";
  return LAYERS.findIndex((l) => l.includes(folder));
}

const upward = (edges: ImportEdge[]) =>
  edges.filter((e) => layerOf(e.to) > layerOf(e.from)).map((e) => `${e.from} -> ${e.to}`);

/** The ratchet: what is found must be exactly what is listed, and the list must not repeat itself. */
function expectListed(found: string[], allowed: string[], what: string) {
  expect(new Set(allowed).size, `${what}: a line listed twice`).toBe(allowed.length);
  const unique = [...new Set(found)];
  expect(
    unique.filter((x) => !allowed.includes(x)),
    `${what} that are new (fix them; do not list them)`,
  ).toEqual([]);
  expect(
    allowed.filter((x) => !unique.includes(x)),
    `${what} listed but gone (delete their lines from the list)`,
  ).toEqual([]);
}

const src = readTree(new URL("../../src/", import.meta.url).pathname);
const edges = importEdges(src);

describe("the layers of src/", () => {
  it("place every file of src/ in one layer", () => {
    expect(src.length).toBeGreaterThan(100);
    expect(src.filter((f) => layerOf(f.path) < 0).map((f) => f.path)).toEqual([]);
  });

  it("have no import pointing up a layer, but the listed ones", () => {
    expect(edges.length).toBeGreaterThan(300);
    expectListed(upward(edges), UPWARD_ALLOWED, "upward imports");
  });

  it("have no import cycle", () => {
    expect(importCycles(edges)).toEqual([]);
  });

  it("are the ones docs/architecture.md's table shows, in its order", () => {
    const doc = readFileSync(new URL("../../docs/architecture.md", import.meta.url), "utf8");
    const rows = [...doc.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)].map((m) => ({
      n: Number(m[1]),
      names: [...m[2].matchAll(/`([^`]+)`/g)].map((x) => x[1]),
    }));
    expect(rows.map((r) => r.n)).toEqual(LAYERS.map((_, i) => i + 1));
    expect(rows.map((r) => r.names)).toEqual(LAYERS.map((l) => [...l]));
  });
});

describe("the size and repetition of src/", () => {
  it(`has no function over ${MAX_FUNCTION_LINES} lines, but the listed ones`, () => {
    expectListed(
      longFunctions(src, MAX_FUNCTION_LINES).map((f) => f.id),
      LONG_ALLOWED,
      "long functions",
    );
  });

  it(`has no block of ${MIN_COPY_LINES}+ lines in two places, but the listed ones`, () => {
    expectListed(
      copiedBlocks(src, MIN_COPY_LINES).map((c) => `${c.a} ~ ${c.b}`),
      COPIES_ALLOWED,
      "copied blocks",
    );
  });
});

// The measures themselves, on small trees where the answer is known: a check that finds nothing must be
// able to find something.
describe("the measures", () => {
  const tree = (files: Record<string, string>): SourceFile[] =>
    Object.entries(files).map(([path, text]) => ({ path, text }));

  it("see static, type-only, re-export and dynamic imports, and an upward one", () => {
    const t = tree({
      "errors.ts": 'import type { X } from "./stores/s3.js";\n',
      "stores/s3.ts": 'export * from "../errors.js";\nconst m = await import("../cli.js");\n',
      "cli.ts": "",
    });
    const e = importEdges(t);
    expect(e).toEqual([
      { from: "errors.ts", to: "stores/s3.ts" },
      { from: "stores/s3.ts", to: "errors.ts" },
      { from: "stores/s3.ts", to: "cli.ts" },
    ]);
    expect(upward(e)).toEqual(["errors.ts -> stores/s3.ts", "stores/s3.ts -> cli.ts"]);
    expect(importCycles(e)).toEqual([["errors.ts", "stores/s3.ts"]]);
  });

  it("measure a function from its first line to its last, methods by class", () => {
    const body = Array.from({ length: 80 }, (_, i) => `    x += ${i};`).join("\n");
    const t = tree({ "a.ts": `class Store {\n  put(x: number) {\n${body}\n  }\n}\nconst short = () => 1;\n` });
    expect(longFunctions(t, 81)).toEqual([{ id: "a.ts:Store.put", lines: 82 }]);
    expect(longFunctions(t, 82)).toEqual([]);
  });

  it("find a block of six lines copied across files, comments and blank lines aside, and not five", () => {
    const block = (n: number) => Array.from({ length: n }, (_, i) => `  total += step(${i});`).join("\n");
    const t = tree({
      "a.ts": `function f() {\n${block(6)}\n}\n`,
      "b/c.ts": `// copied\nfunction g() {\n\n${block(6)}\n}\n`,
      "d.ts": block(5),
    });
    expect(copiedBlocks(t, 6)).toEqual([{ a: "a.ts:2-7", b: "b/c.ts:4-9", lines: 6 }]);
    expect(copiedBlocks(tree({ "a.ts": block(5), "b.ts": block(5) }), 6)).toEqual([]);
  });
});
