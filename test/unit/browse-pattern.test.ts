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
    // A set is one character of a name: a range that spans '/' does not match it.
    ["x/a[+-0]b", "x/a/b", false],
    ["x/a[+-0]b", "x/a.b", true],
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

/**
 * The RegExp translation that the automaton replaced (it backtracked: seconds per forged path), kept
 * here as the oracle: on paths of ordinary length both must give the same answer for every glob.
 */
const special = /[.+^$()|\\/]/;
function oracleFail(): never {
  throw new Error("refused");
}
function translate(p: string, i: number, stops: string): { re: string; end: number } {
  let re = "";
  while (i < p.length && !stops.includes(p[i])) {
    const c = p[i];
    if (c === "*" && p[i + 1] === "*") {
      const whole = (i === 0 || p[i - 1] === "/") && (i + 2 === p.length || p[i + 2] === "/");
      if (whole && p[i + 2] === "/") {
        re += "(?:[^/]+/)*";
        i += 3;
      } else {
        re += whole ? ".*" : "[^/]*";
        i += 2;
      }
    } else if (c === "*") {
      re += "[^/]*";
      i++;
    } else if (c === "?") {
      re += "[^/]";
      i++;
    } else if (c === "[") {
      const close = p.indexOf("]", i + 2);
      if (close < 0) oracleFail();
      let body = p.slice(i + 1, close);
      const negate = body[0] === "!" || body[0] === "^";
      if (negate) body = body.slice(1);
      if (body.includes("/")) oracleFail();
      // (The replaced code wrote "[^/" + body: a body starting with '-' then made a range from '/'.
      // The automaton reads such a '-' as itself, as a glob means it; the oracle does the same.)
      const esc = body.replace(/[\\\]^]/g, "\\$&").replace(/-$/, "\\-");
      re += negate ? `[^${esc}\\/]` : `[${esc}]`;
      i = close + 1;
    } else if (c === "{") {
      const alternatives: string[] = [];
      let j = i + 1;
      for (;;) {
        const part = translate(p, j, ",}");
        alternatives.push(part.re);
        if (part.end >= p.length) oracleFail();
        j = part.end + 1;
        if (p[part.end] === "}") break;
      }
      re += `(?:${alternatives.join("|")})`;
      i = j;
    } else {
      re += special.test(c) || c === "{" || c === "}" || c === "[" || c === "]" ? `\\${c}` : c;
      i++;
    }
  }
  return { re, end: i };
}
function oracle(text: string): { matches(p: string): boolean; covers(p: string): boolean } {
  let p = text.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  const anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  if (!p) oracleFail();
  const { re, end } = translate(p, 0, "");
  if (end !== p.length) oracleFail();
  const whole = new RegExp(anchored ? `^${re}$` : `(?:^|/)${re}$`, "s");
  const prefix = new RegExp(anchored ? `^${re}(?:/|$)` : `(?:^|/)${re}(?:/|$)`, "s");
  return { matches: (x) => whole.test(x), covers: (x) => prefix.test(x) };
}

/** A small deterministic generator (the same cases every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe("the automaton gives the RegExp translation's answers", () => {
  it("on 20,000 random globs and paths, matches and covers alike; refuses alike", () => {
    const rand = lcg(20261206);
    const pick = (s: string) => s[Math.floor(rand() * s.length)];
    const glob = () =>
      Array.from({ length: 1 + Math.floor(rand() * 10) }, () => {
        const r = rand();
        if (r < 0.12) return "**/";
        if (r < 0.2) return "**";
        if (r < 0.25) return `{${pick("ab*")},${pick("b/?")}${pick("ab}")}`;
        if (r < 0.3) return `[${pick("!^a")}${pick("ab-")}${pick("bc]")}]`;
        return pick("ab/*?.-{},[]");
      }).join("");
    const path = () => Array.from({ length: Math.floor(rand() * 12) }, () => pick("ab/.-[]{},")).join("");
    let compared = 0;
    let refused = 0;
    for (let n = 0; n < 20_000; n++) {
      const text = glob();
      let want: ReturnType<typeof oracle> | null = null;
      try {
        want = oracle(text);
      } catch {
        want = null;
      }
      let got: ReturnType<typeof compilePattern> | null = null;
      try {
        got = compilePattern(text);
      } catch {
        got = null;
      }
      expect(got === null, text).toBe(want === null);
      if (!got || !want) {
        refused++;
        continue;
      }
      for (let k = 0; k < 5; k++) {
        const x = path();
        expect(got.matches(x), `${text} ~ ${x}`).toBe(want.matches(x));
        expect(got.covers(x), `${text} covers ${x}`).toBe(want.covers(x));
        compared++;
      }
    }
    // Both kinds were exercised, not only one.
    expect(compared).toBeGreaterThan(50_000);
    expect(refused).toBeGreaterThan(500);
  });

  it("a forged path of 4,096 characters that made the RegExp backtrack is answered (and right)", () => {
    // Backtracking took 4.4 s on this one path; the automaton walks it once per state set.
    const path = `${"a/".repeat(1000)}${"b".repeat(2000)}`.slice(0, 4096);
    for (const g of ["**/a/**/b/**/*.pdf", "**/*invoice*2024*.pdf", "*a*a*a*a*a*a*a*a*c"]) {
      expect(compilePattern(g).matches(path), g).toBe(false);
      expect(compilePattern(g).covers(path), g).toBe(false);
    }
    expect(compilePattern("**/a/**/b*").matches(path)).toBe(true);
    expect(compilePattern("a/a").covers(path)).toBe(true);
  });
});
