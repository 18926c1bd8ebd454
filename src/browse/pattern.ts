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
 *
 * The paths come from a repository, so a forger chooses them: a glob is matched by walking its
 * automaton over the path once (every state at once, as Thompson's construction does), never by
 * backtracking. A JavaScript RegExp of `**\/a/**\/b/**\/*.pdf` took over 4 s on one forged path of
 * 4,096 characters; this takes time in proportion to the path's length times the glob's.
 */
export interface PathPattern {
  readonly text: string;
  /** The path itself matches. */
  matches(path: string): boolean;
  /** The path or one of its parent directories matches: restoring `docs` restores what it holds. */
  covers(path: string): boolean;
}

const MAX_PATTERN = 1024;
const SLASH = 0x2f;

function fail(pattern: string, why: string): never {
  throw new StrongboxError("USAGE", `pattern ${JSON.stringify(pattern.slice(0, 100))}: ${why}`);
}

/** Which characters (UTF-16 code units, as a path's string holds them) one step takes. */
type Accept = (c: number) => boolean;
const anyButSlash: Accept = (c) => c !== SLASH;
const anything: Accept = () => true;

/** A glob's automaton: state 0 starts, `final` accepts; each state has steps on a character and steps on nothing. */
class Automaton {
  readonly on: { accept: Accept; to: number }[][] = [];
  readonly free: number[][] = [];

  state(): number {
    this.on.push([]);
    this.free.push([]);
    return this.on.length - 1;
  }

  step(from: number, accept: Accept, to: number): void {
    this.on[from].push({ accept, to });
  }

  link(from: number, to: number): void {
    this.free[from].push(to);
  }
}

/** One [...] set: its members and ranges as given (a range out of order is refused, as a RegExp would). */
function parseSet(p: string, body: string): Accept {
  const negate = body[0] === "!" || body[0] === "^";
  if (negate) body = body.slice(1);
  if (body.includes("/")) fail(p, "a [...] set cannot hold '/'");
  const singles = new Set<number>();
  const ranges: [number, number][] = [];
  for (let k = 0; k < body.length; k++) {
    const lo = body.charCodeAt(k);
    if (k + 2 < body.length && body[k + 1] === "-") {
      const hi = body.charCodeAt(k + 2);
      if (hi < lo) fail(p, "not a valid pattern (Range out of order in character class)");
      ranges.push([lo, hi]);
      k += 2;
    } else singles.add(lo);
  }
  const member = (c: number) => singles.has(c) || ranges.some(([lo, hi]) => c >= lo && c <= hi);
  // Never '/': a set is one character of a name, even when a range spans it ([+-0]).
  return negate ? (c) => c !== SLASH && !member(c) : (c) => c !== SLASH && member(c);
}

/**
 * Adds glob text from `i` up to one of `stops` (or the end) to `a`, from state `from`: returns the
 * state it ends in and where the text stopped.
 */
function build(a: Automaton, p: string, i: number, stops: string, from: number): { at: number; end: number } {
  let at = from;
  const single = (accept: Accept) => {
    const next = a.state();
    a.step(at, accept, next);
    at = next;
  };
  while (i < p.length && !stops.includes(p[i])) {
    const c = p[i];
    if (c === "*" && p[i + 1] === "*") {
      const whole = (i === 0 || p[i - 1] === "/") && (i + 2 === p.length || p[i + 2] === "/");
      if (whole && p[i + 2] === "/") {
        // Any number of whole names, each with its '/': (?:[^/]+/)*
        const inName = a.state();
        a.step(at, anyButSlash, inName);
        a.step(inName, anyButSlash, inName);
        a.step(inName, (x) => x === SLASH, at);
        i += 3;
      } else {
        a.step(at, whole ? anything : anyButSlash, at);
        i += 2;
      }
    } else if (c === "*") {
      a.step(at, anyButSlash, at);
      i++;
    } else if (c === "?") {
      single(anyButSlash);
      i++;
    } else if (c === "[") {
      const close = p.indexOf("]", i + 2);
      if (close < 0) fail(p, "a '[' without its ']'");
      single(parseSet(p, p.slice(i + 1, close)));
      i = close + 1;
    } else if (c === "{") {
      const join = a.state();
      let j = i + 1;
      for (;;) {
        const start = a.state();
        a.link(at, start);
        const part = build(a, p, j, ",}", start);
        a.link(part.at, join);
        if (part.end >= p.length) fail(p, "a '{' without its '}'");
        j = part.end + 1;
        if (p[part.end] === "}") break;
      }
      at = join;
      i = j;
    } else {
      const code = p.charCodeAt(i);
      single((x) => x === code);
      i++;
    }
  }
  return { at, end: i };
}

/**
 * Walks the automaton over `path`, every live state at once. `anywhere`: it may also start after
 * each '/' (a glob without '/' matches a name at any depth). `prefix`: it also accepts when a
 * parent directory of the path matched (the final state is live just before a '/').
 */
function run(a: Automaton, final: number, path: string, anywhere: boolean, prefix: boolean): boolean {
  const n = a.on.length;
  const mark = new Int32Array(n).fill(-1);
  let live: number[] = [];
  let next: number[] = [];
  let round = 0;
  const add = (list: number[], s: number) => {
    if (mark[s] === round) return;
    mark[s] = round;
    list.push(s);
    for (const t of a.free[s]) add(list, t);
  };
  add(live, 0);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (prefix && c === SLASH && mark[final] === round) return true;
    round++;
    next.length = 0;
    for (const s of live) for (const e of a.on[s]) if (e.accept(c)) add(next, e.to);
    if (anywhere && c === SLASH) add(next, 0);
    [live, next] = [next, live];
    if (live.length === 0 && !anywhere) return false; // nothing can start again
  }
  return mark[final] === round;
}

export function compilePattern(text: string): PathPattern {
  if (!text || text.length > MAX_PATTERN) fail(text, `must be 1 to ${MAX_PATTERN} characters`);
  if (text.includes("\0")) fail(text, "holds a NUL byte");
  let p = text.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
  const anchored = p.includes("/");
  p = p.replace(/^\/+/, "");
  if (!p) fail(text, "names no path");
  const a = new Automaton();
  const { at: final, end } = build(a, p, 0, "", a.state());
  if (end !== p.length) fail(text, "unbalanced '}' or ','");
  return {
    text,
    matches: (path) => run(a, final, path, !anchored, false),
    covers: (path) => run(a, final, path, !anchored, true),
  };
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
