// Reads the shape of src/ with the TypeScript compiler API, in-process: which module imports which,
// how long each function is, and which blocks of lines stand in two places. test/unit/layering.test.ts
// holds the rules; this file only measures.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

export interface SourceFile {
  /** Path relative to the root it was read from, with "/" separators: "stores/s3.ts". */
  path: string;
  text: string;
}

export interface ImportEdge {
  from: string;
  to: string;
}

export interface LongFunction {
  /** "file.ts:name" (methods as "Class.method"; anonymous functions by their line). */
  id: string;
  lines: number;
}

export interface CopiedBlock {
  a: string;
  b: string;
  lines: number;
}

export function readTree(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts"))
        out.push({ path: relative(root, p).split("\\").join("/"), text: readFileSync(p, "utf8") });
    }
  };
  walk(root);
  return out.sort((x, y) => (x.path < y.path ? -1 : 1));
}

const parse = (f: SourceFile) => ts.createSourceFile(f.path, f.text, ts.ScriptTarget.Latest, true);

/** Every relative import of each file: static, `export … from`, type-only and `import("…")` alike. */
export function importEdges(files: SourceFile[]): ImportEdge[] {
  const known = new Set(files.map((f) => f.path));
  const edges: ImportEdge[] = [];
  for (const f of files) {
    const specs: string[] = [];
    const visit = (n: ts.Node) => {
      if (
        (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) &&
        n.moduleSpecifier &&
        ts.isStringLiteral(n.moduleSpecifier)
      )
        specs.push(n.moduleSpecifier.text);
      if (
        ts.isCallExpression(n) &&
        n.expression.kind === ts.SyntaxKind.ImportKeyword &&
        n.arguments[0] &&
        ts.isStringLiteral(n.arguments[0])
      )
        specs.push(n.arguments[0].text);
      if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal))
        specs.push(n.argument.literal.text);
      ts.forEachChild(n, visit);
    };
    visit(parse(f));
    for (const s of specs) {
      if (!s.startsWith(".")) continue;
      const to = relative("/", resolve("/", dirname(f.path), s)).replace(/\.js$/, ".ts");
      if (!known.has(to)) throw new Error(`${f.path}: import ${s} names no file of the tree`);
      edges.push({ from: f.path, to });
    }
  }
  return edges;
}

/** Each import cycle once, as the files of a strongly connected component (Tarjan). */
export function importCycles(edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const nodes = [...new Set(edges.flatMap((e) => [e.from, e.to]))].sort();
  const connect = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const part: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      part.push(w);
    } while (w !== v);
    if (part.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(part.sort());
  };
  for (const v of nodes) if (!index.has(v)) connect(v);
  return cycles;
}

function functionName(n: ts.Node, sf: ts.SourceFile): string {
  const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const named = (x: ts.Node | undefined) =>
    x && (ts.isIdentifier(x) || ts.isPrivateIdentifier(x) || ts.isStringLiteral(x)) ? x.text : undefined;
  let name =
    (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isFunctionExpression(n) || ts.isAccessor(n)
      ? named(n.name)
      : undefined) ?? (ts.isConstructorDeclaration(n) ? "constructor" : undefined);
  if (
    !name &&
    (ts.isVariableDeclaration(n.parent) || ts.isPropertyAssignment(n.parent) || ts.isPropertyDeclaration(n.parent))
  )
    name = named(n.parent.name);
  if (!name) return `(anonymous, line ${line})`;
  const owner = ts.isClassLike(n.parent) ? named(n.parent.name) : undefined;
  return owner ? `${owner}.${name}` : name;
}

/** Functions (declarations, methods, arrows, expressions) longer than `max` lines, from first to last line. */
export function longFunctions(files: SourceFile[], max: number): LongFunction[] {
  const out: LongFunction[] = [];
  for (const f of files) {
    const sf = parse(f);
    const visit = (n: ts.Node) => {
      if (ts.isFunctionLike(n) && "body" in n && n.body) {
        const lines =
          sf.getLineAndCharacterOfPosition(n.getEnd()).line - sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        if (lines > max) out.push({ id: `${f.path}:${functionName(n, sf)}`, lines });
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return out;
}

/** What counts as a line of code: white space folded; blank, comment, import and lone-punctuation lines left out. */
function codeLines(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  text.split("\n").forEach((raw, i) => {
    const code = raw.trim().replace(/\s+/g, " ");
    if (!code || /^(\/\/|\/\*|\*)/.test(code) || /^import\b/.test(code) || /^[\s{}()[\];,.]*$/.test(code)) return;
    out.push({ line: i + 1, code });
  });
  return out;
}

/**
 * Blocks of at least `min` code lines that stand, the same to the letter, in two places (in one file or
 * two), each reported once at its longest as "file:first-last".
 */
export function copiedBlocks(files: SourceFile[], min: number): CopiedBlock[] {
  const lines = files.map((f) => ({ path: f.path, code: codeLines(f.text) }));
  const places = new Map<string, { file: number; at: number }[]>();
  lines.forEach((f, file) => {
    for (let at = 0; at + min <= f.code.length; at++) {
      const key = f.code
        .slice(at, at + min)
        .map((l) => l.code)
        .join("\n");
      places.set(key, [...(places.get(key) ?? []), { file, at }]);
    }
  });
  const seen = new Set<string>();
  const out: CopiedBlock[] = [];
  for (const list of places.values()) {
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        let [p, q] = [list[i], list[j]];
        const fp = lines[p.file].code;
        const fq = lines[q.file].code;
        if (p.file === q.file && Math.abs(p.at - q.at) < min) continue; // a run that overlaps itself
        // Walk back to where the shared run starts, so each run is reported once.
        let back = 0;
        while (p.at - back > 0 && q.at - back > 0 && fp[p.at - back - 1].code === fq[q.at - back - 1].code) back++;
        const key = `${p.file}:${p.at - back}:${q.file}:${q.at - back}`;
        if (seen.has(key)) continue;
        seen.add(key);
        [p, q] = [
          { ...p, at: p.at - back },
          { ...q, at: q.at - back },
        ];
        let len = 0;
        while (p.at + len < fp.length && q.at + len < fq.length && fp[p.at + len].code === fq[q.at + len].code) len++;
        const span = (f: number, at: number) =>
          `${lines[f].path}:${lines[f].code[at].line}-${lines[f].code[at + len - 1].line}`;
        out.push({ a: span(p.file, p.at), b: span(q.file, q.at), lines: len });
      }
    }
  }
  return out;
}
