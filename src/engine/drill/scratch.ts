import { StrongboxError } from "../../errors.js";
import { makeScratch, removeScratch } from "../../scratch-space.js";
import { connect } from "../../sources/postgres/connection.js";
import { parsePgUrl } from "../../sources/postgres/url.js";

/** Cleanups that must run however a drill ends: normally, on failure, or on SIGINT/SIGTERM. */
const pending = new Set<() => Promise<void>>();

export function onCleanup(fn: () => Promise<void>): () => Promise<void> {
  let done = false;
  const once = async () => {
    if (done) return;
    done = true;
    pending.delete(once);
    await fn();
  };
  pending.add(once);
  return once;
}

export async function runPendingCleanups(): Promise<void> {
  for (const fn of [...pending]) await fn().catch(() => {});
}

/** A drill's scratch directory under TMPDIR (scratch-space.ts), removed however the drill ends. */
export async function scratchDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await makeScratch("strongbox-drill-");
  return { path, remove: onCleanup(() => removeScratch(path)) };
}

export function scratchDbName(backupId: string): string {
  return `strongbox_drill_${backupId.toLowerCase().replace(/[^a-z0-9]/g, "_")}`;
}

/** The same server as adminUrl, another database. */
export function withDatabase(adminUrl: string, db: string): string {
  const u = parsePgUrl(adminUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

function serverKey(url: string): string {
  const u = parsePgUrl(url);
  const host = u.searchParams.get("host") ?? u.hostname ?? "localhost";
  const port = u.searchParams.get("port") ?? (u.port || "5432");
  const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || decodeURIComponent(u.username) || "postgres";
  return `${host}:${port}/${db}`;
}

export function sameDatabase(a: string, b: string): boolean {
  return serverKey(a) === serverKey(b);
}

/** Creates `strongbox_drill_<id>` on the drill server (replacing a leftover of a killed drill) and registers its drop. */
export async function scratchDatabase(
  adminUrl: string,
  backupId: string,
): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = scratchDbName(backupId);
  const admin = await connect(adminUrl, "drill.postgres_url");
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } catch (err) {
    throw new StrongboxError(
      "SOURCE",
      `drill.postgres_url: cannot create the scratch database ${name}: ${(err as Error).message}`,
    );
  } finally {
    await admin.end().catch(() => {});
  }
  const drop = onCleanup(async () => {
    const c = await connect(adminUrl, "drill.postgres_url");
    try {
      await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
    } finally {
      await c.end().catch(() => {});
    }
  });
  return { url: withDatabase(adminUrl, name), name, drop };
}
