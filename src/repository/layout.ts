import { randomBytes } from "node:crypto";

export const FORMAT = "strongbox/1";
export const BACKUPS = "backups/";
export const DRILLS = "drills/";

const ID_RE = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/** `YYYYMMDDTHHMMSSZ-<6 hex>`: sorts by time, and the random tail keeps two hosts from colliding. */
export function newBackupId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/**
 * A backup id names a real UTC second: `20261232T…` (no 32nd day), `20270230T…` (no 30 February),
 * `…T250000Z` (no 25th hour) and leap seconds are refused, so what sorts an id and what its time
 * says cannot disagree. Years before 0100 are refused too (Date.UTC would read them as 19xx).
 */
export function isBackupId(s: string): boolean {
  if (!ID_RE.test(s)) return false;
  const [Y, M, D, h, m, sec] = [
    s.slice(0, 4),
    s.slice(4, 6),
    s.slice(6, 8),
    s.slice(9, 11),
    s.slice(11, 13),
    s.slice(13, 15),
  ].map(Number);
  const t = new Date(Date.UTC(Y, M - 1, D, h, m, sec));
  return (
    t.getUTCFullYear() === Y &&
    t.getUTCMonth() === M - 1 &&
    t.getUTCDate() === D &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === m &&
    t.getUTCSeconds() === sec
  );
}

export function backupTime(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id)!;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/**
 * Newest first. Ids carry whole seconds and a random tail, so two backups in the same second
 * would sort at random by id: compare their start times (ms, from complete.json) first.
 */
export function newestFirst(a: { id: string; time: Date }, b: { id: string; time: Date }): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

export const keys = {
  dir: (id: string) => `${BACKUPS}${id}/`,
  object: (id: string, file: string) => `${BACKUPS}${id}/${file}`,
  /** The encrypted manifest; compressed like the data (`.zst`/`.gz` before `.age`), uncompressed with compression: none. */
  manifest: (id: string, ext = "") => `${BACKUPS}${id}/manifest.json${ext}.age`,
  complete: (id: string) => `${BACKUPS}${id}/complete.json`,
  /** The SSH signature (SSHSIG, namespace strongbox-backup) over complete.json's exact bytes, written just before it. */
  completeSig: (id: string) => `${BACKUPS}${id}/complete.json.sig`,
  drill: (drillId: string) => `${DRILLS}${drillId}.json`,
  /** The drill host's SSH signature (namespace strongbox-drill) over the report's exact bytes, written just before it. */
  drillSig: (drillId: string) => `${DRILLS}${drillId}.json.sig`,
};

/** The backup id a key belongs to, or null. */
export function idOfKey(key: string): string | null {
  if (!key.startsWith(BACKUPS)) return null;
  const id = key.slice(BACKUPS.length).split("/")[0];
  return isBackupId(id) ? id : null;
}

/** A manifest key of this backup: `manifest.json.age`, `.json.zst.age` or `.json.gz.age`. */
export function isManifestKey(id: string, key: string): boolean {
  return key === keys.manifest(id) || key === keys.manifest(id, ".zst") || key === keys.manifest(id, ".gz");
}
