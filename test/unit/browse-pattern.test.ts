import { describe, expect, it } from "vitest";
import { compilePattern, makeSelector } from "../../src/browse/pattern.js";

describe("browse globs (README, Browsing and partial restores)", () => {
  const cases: [string, string, boolean][] = [
    ["*.pdf", "rundown.pdf", true],
    ["*.pdf", "a/b/rundown.pdf", true],
    ["*.pdf", "rundown.pdf.bak", false],
    ["docs/*", "docs/a.txt", true],
    ["docs/*", "docs/sub/a.txt", false],
    ["docs/**", "docs/sub/a.txt", true],
    ["**/*.txt", "a.txt", true],
    ["**/*.txt", "x/y/a.txt", true],
    ["/plan.txt", "plan.txt", true],
    ["/plan.txt", "a/plan.txt", false],
    ["file?.txt", "file1.txt", true],
    ["file?.txt", "file/.txt", false],
    ["[ab]*.md", "beta.md", true],
    ["[!ab]*.md", "beta.md", false],
    ["[a-c].txt", "b.txt", true],
    ["projects/{alpha,beta}/*.txt", "projects/beta/n.txt", true],
    ["projects/{alpha,beta}/*.txt", "projects/gamma/n.txt", false],
    ["{*.pdf,*.md}", "x/y.md", true],
    ["a.b", "axb", false],
    ["(x)+", "(x)+", true],
  ];
  it.each(cases)("%s ~ %s: %s", (pattern, path, want) => {
    expect(compilePattern(pattern).matches(path)).toBe(want);
  });

  it("covers what a matched directory holds; --exclude wins", () => {
    const select = makeSelector(["projects/alpha"], ["*.bin"]);
    expect(select("projects/alpha")).toBe(true);
    expect(select("projects/alpha/x/y.txt")).toBe(true);
    expect(select("projects/alpha/x/y.bin")).toBe(false);
    expect(select("projects/alphabet")).toBe(false);
    expect(makeSelector([], ["tmp"])("a/tmp/x")).toBe(false);
  });

  it.each(["", "[abc", "{a,b", "a\u0000b", "x".repeat(2000), "/", "[a/b]"])("refuses %j (exit 2)", (p) => {
    expect(() => compilePattern(p)).toThrow(expect.objectContaining({ code: "USAGE" }));
  });
});
