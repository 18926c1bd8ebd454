import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { StrongboxError } from "../../errors.js";
import { childEnv } from "./child-stream.js";

const run = promisify(execFile);

export interface PgTool {
  path: string;
  version: string;
  major: number;
}

async function probe(path: string): Promise<PgTool | null> {
  try {
    const { stdout } = await run(path, ["--version"], { timeout: 10_000, env: childEnv() });
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
    if (!m) return null;
    return { path, version: m[2] !== undefined ? `${m[1]}.${m[2]}` : m[1], major: Number(m[1]) };
  } catch {
    return null;
  }
}

/**
 * Finds `tool` (pg_dump, pg_restore, pg_dumpall) at least as new as `minMajor`: in pg_bin_dir when
 * configured (and only there), else Debian's /usr/lib/postgresql/<N>/bin (newest first), else PATH.
 * A mismatch is an error that names both versions and how to fix it.
 */
export async function findPgTool(tool: string, minMajor: number, binDir?: string): Promise<PgTool> {
  const candidates: string[] = [];
  if (binDir) candidates.push(join(binDir, tool));
  else {
    const base = "/usr/lib/postgresql";
    if (existsSync(base)) {
      for (const v of readdirSync(base)
        .filter((d) => /^\d+$/.test(d))
        .sort((a, b) => Number(b) - Number(a)))
        candidates.push(join(base, v, "bin", tool));
    }
    candidates.push(tool);
  }
  const found: PgTool[] = [];
  for (const c of candidates) {
    if (c.includes("/") && !existsSync(c)) continue;
    const t = await probe(c);
    if (t) {
      if (t.major >= minMajor) return t;
      found.push(t);
    }
  }
  const where = binDir ? `pg_bin_dir ${binDir}` : "PATH and /usr/lib/postgresql/*/bin";
  if (found.length === 0) {
    throw new StrongboxError(
      "SOURCE",
      `${tool} not found in ${where}: install postgresql-client-${minMajor}${binDir ? "" : " or set pg_bin_dir"}`,
    );
  }
  const newest = found.sort((a, b) => b.major - a.major)[0];
  throw new StrongboxError(
    "SOURCE",
    `${tool} ${newest.version} (${newest.path}) is older than the server (PostgreSQL ${minMajor}): install postgresql-client-${minMajor} or point pg_bin_dir at a ${tool} >= ${minMajor}`,
  );
}
