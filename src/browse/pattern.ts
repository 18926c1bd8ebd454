import { StrongboxError } from "../errors.js";

/**
 * The globs of `find`, `restore --include/--exclude` (README, "Browsing and partial restores"),
 * matched against a path relative to its source's root:
 *
 * - `*` any run of characters within one name, `?` one character (never `/`);
 * - `**` any number of whole names (`docs/**`, `**\/*.pdf`);
 * - `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) one character of (or not of) a set;
 * - `{a,b}` either of the alternatives (they may hold globs and nest);
 * - a pattern without `/` matches a name at any depth; one with `/` matches from the root
 *   (a leading `/` anchors a single name there).
 */
export interface PathPattern {
  readonly text: string;
  /** The path itself matches. */
  matches(path: string): boolean;
  /** The path or one of its parent directories matches: restoring `docs` restores what it holds. */
  covers(path: string): boolean;
}

const MAX_PATTERN = 1024;
const special = /[.+^$()|\\/]/;

function fail(pattern: string, why: string): never {
  throw new StrongboxError("USAGE", `pattern ${JSON.stringify(pattern.slice(0, 100))}: ${why}`);
}

/** Translates glob text from `i` up to one of `stops` (or the end): the regexp source and where it stopped. */
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
      if (close < 0) fail(p, "a '[' without its ']'");
      let body = p.slice(i + 1, close);
      const negate = body[0] === "!" || body[0] === "^";
      if (negate) body = body.slice(1);
      if (body.includes("/")) fail(p, "a [...] set cannot hold '/'");
      re += `[${negate ? "^/" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = close + 1;
    } else if (c === "{") {
      const alternatives: string[] = [];
      let j = i + 1;
      for (;;) {
        const part = translate(p, j, ",}");
        alternatives.push(part.re);
        if (part.end >= p.length) fail(p, "a '{' without its '}'");
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

export function compilePattern(text: string): PathPattern {
  if (!text || text.length > MAX_PATTERN) fail(text, `must be 1 to ${MAX_PATTERN} characters`);
  if (text.includes("\0")) fail(text, "holds a NUL byte");
  let p = text.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  const anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  if (!p) fail(text, "names no path");
  const { re, end } = translate(p, 0, "");
  if (end !== p.length) fail(text, "unbalanced '}' or ','");
  let whole: RegExp;
  let prefix: RegExp;
  try {
    whole = new RegExp(anchored ? `^${re}$` : `(?:^|/)${re}$`, "s");
    prefix = new RegExp(anchored ? `^${re}(?:/|$)` : `(?:^|/)${re}(?:/|$)`, "s");
  } catch (err) {
    fail(text, `not a valid pattern (${(err as Error).message.replace(/^.*: /, "")})`);
  }
  return { text, matches: (path) => whole.test(path), covers: (path) => prefix.test(path) };
}

/**
 * What a partial restore writes: a path covered by an --include pattern (all paths when there is
 * none) and not by an --exclude pattern.
 */
export function makeSelector(include: string[], exclude: string[]): (path: string) => boolean {
  const inc = include.map(compilePattern);
  const exc = exclude.map(compilePattern);
  return (path) => (inc.length === 0 || inc.some((x) => x.covers(path))) && !exc.some((x) => x.covers(path));
}
