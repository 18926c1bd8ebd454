// Comments in src/ point at the user docs that are in the repository (README.md and docs/), by section:
// `(README, "Differential backups")`, `(docs/format.md, "Layout")`. Each such reference must name a
// heading that exists, and none may cite SPEC.md, which is not in the repository.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTree } from "../helpers/code-shape.js";

const root = new URL("../../", import.meta.url).pathname;
const src = readTree(join(root, "src"));

/** The headings of a Markdown file, outside fenced blocks. */
function headings(file: string): string[] {
  let fenced = false;
  const out: string[] = [];
  for (const line of readFileSync(join(root, file), "utf8").split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const m = !fenced && /^#+ (.+)$/.exec(line);
    if (m) out.push(m[1].trim());
  }
  return out;
}

/** `README, "X"` or `docs/y.md, "X"` names the section X: its heading, or its heading without a trailing "(…)". */
const REFERENCE = /\b(README(?:\.md)?|docs\/[\w-]+\.md), "([^"]+)"/g;

describe("references from src/ to the docs", () => {
  it("start at docs/architecture.md, which the README's development section links", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const tests = readme.slice(readme.indexOf("\n## Tests\n"), readme.indexOf("\n## Commands\n"));
    expect(tests).toContain("[docs/architecture.md](docs/architecture.md)");
    expect(headings("docs/architecture.md")).toEqual(
      expect.arrayContaining([
        "Layers",
        "Where each flow lives",
        "Adding a source type",
        "Adding a store",
        "Errors and exit codes",
        "Tests",
      ]),
    );
  });

  it("never cite SPEC (not in the repository)", () => {
    const cites = src.flatMap((f) =>
      f.text.split("\n").flatMap((l, i) => (/\bSPEC\b/.test(l) ? [`${f.path}:${i + 1}`] : [])),
    );
    expect(cites).toEqual([]);
  });

  it("each name a section that exists", () => {
    const refs = src.flatMap((f) =>
      [...f.text.matchAll(REFERENCE)].map((m) => ({
        where: f.path,
        file: m[1].startsWith("README") ? "README.md" : m[1],
        section: m[2],
      })),
    );
    expect(refs.length).toBeGreaterThan(20);
    const missing = refs.filter(
      (r) => !headings(r.file).some((h) => h === r.section || h.replace(/ \(.*\)$/, "") === r.section),
    );
    expect(missing).toEqual([]);
  });
});
