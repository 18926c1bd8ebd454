import type { ExtractedFile } from "../archive/extract.js";
import type { ManifestEntry } from "../archive/tar-pack.js";

export interface TreeDiff {
  missing: string[];
  extra: string[];
  changed: { path: string; why: string }[];
}

const LIMIT = 20;

/** Compares what an archive (or a restored tree) holds with the manifest's entries. */
export function diffTree(expected: ManifestEntry[], actual: ExtractedFile[]): TreeDiff {
  const want = new Map(expected.map((e) => [e.path, e]));
  const diff: TreeDiff = { missing: [], extra: [], changed: [] };
  const seen = new Set<string>();
  for (const a of actual) {
    seen.add(a.path);
    const e = want.get(a.path);
    if (!e) {
      diff.extra.push(a.path);
      continue;
    }
    if (e.type !== a.type) diff.changed.push({ path: a.path, why: `is a ${a.type}, manifest says ${e.type}` });
    else if (e.type === "file") {
      if (e.size !== a.size) diff.changed.push({ path: a.path, why: `size ${a.size}, manifest says ${e.size}` });
      else if (e.sha256 !== a.sha256) diff.changed.push({ path: a.path, why: "SHA-256 differs from the manifest" });
    }
  }
  for (const e of expected) if (!seen.has(e.path)) diff.missing.push(e.path);
  return diff;
}

export function describeDiff(d: TreeDiff): string | undefined {
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, LIMIT).join(", ") + (xs.length > LIMIT ? `, … (${xs.length - LIMIT} more)` : "");
  if (d.missing.length) parts.push(`${d.missing.length} missing: ${list(d.missing)}`);
  if (d.extra.length) parts.push(`${d.extra.length} extra: ${list(d.extra)}`);
  if (d.changed.length) parts.push(`${d.changed.length} altered: ${list(d.changed.map((c) => `${c.path} (${c.why})`))}`);
  return parts.length ? parts.join("; ") : undefined;
}
