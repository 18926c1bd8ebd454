import { StrongboxError } from "../errors.js";
import type { CompleteObject, CompleteRecord } from "../repository/complete.js";
import { SOURCE_NAME } from "../repository/complete.js";
import { isBackupId, keys } from "../repository/layout.js";
import type { Repository, TrustOptions } from "../repository/repository.js";

/**
 * `strongbox restore <id|latest> --print-script` (issue 21 item 3): the exact POSIX shell steps that
 * restore a backup, or a restore point made of several backups (one per source), with only `age`,
 * `zstd`/`gzip`, `tar`, `pg_restore`, `sha256sum` and `ssh-keygen`. It fetches nothing: the objects
 * are expected under `$REPO/backups/<id>/`, as a copy of the repository's prefix has them.
 *
 * Order: every signature (when the config trusts keys and the backup is signed), then every object
 * against complete.json's SHA-256 (`sha256sum -c`), then each files source into an empty
 * `$TARGET/<source>` (a differential's base full first, both layers with `tar -x -g /dev/null`),
 * then each database with pg_restore into `$TARGET_URL`. Every name comes from a validated
 * complete.json (parseComplete) and is checked again here, and everything is shell-quoted anyway.
 */

/** One backup the script uses. `signed`: its complete.json.sig verified with a trusted key. */
export interface ScriptBackup {
  rec: CompleteRecord;
  signed: boolean;
}

/** One source of the restore point: the backup it comes from and, for a differential, its base full. */
export interface ScriptSource {
  source: string;
  backup: ScriptBackup;
  base?: ScriptBackup;
}

export interface ScriptOptions {
  /** The config's identity_file (a default for $IDENTITY), if any. */
  identityFile?: string;
  /** Public key lines of signing.trusted: with none, no signature is checked (and the script says so). */
  trustedKeys: string[];
  /** Shown in the header: where the objects were listed (the repository's description). */
  repository?: string;
}

/** POSIX single quoting: any byte string becomes one word, nothing in it expanded. */
export function shQuote(s: string): string {
  if (s.includes("\0"))
    throw new StrongboxError("VERIFY", "a name holds a NUL byte; it cannot be put in a shell script");
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A comment line: no newline can end it early, no control character reaches a terminal. */
function comment(s: string): string {
  return `# ${s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?")}`;
}

/** The file name of an object inside its backup's directory, re-checked (hostile input, even after parseComplete). */
function objectFile(rec: CompleteRecord, o: CompleteObject): string {
  const dir = keys.dir(rec.id);
  const name = o.key.startsWith(dir) ? o.key.slice(dir.length) : "";
  if (!isBackupId(rec.id) || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name))
    throw new StrongboxError(
      "VERIFY",
      `backup ${rec.id}: object ${JSON.stringify(o.key).slice(0, 200)} is not a name a script may use`,
    );
  return name;
}

function decompressor(key: string): string {
  if (key.endsWith(".zst.age")) return "zstd -dc";
  if (key.endsWith(".gz.age")) return "gzip -dc";
  return "cat";
}

/** The restore point's objects, checked against each other: what the script reads, per source. */
function plan(sources: ScriptSource[]) {
  const seen = new Set<string>();
  return sources.map((s) => {
    if (!SOURCE_NAME.test(s.source))
      throw new StrongboxError("VERIFY", `${JSON.stringify(s.source).slice(0, 80)} is not a source name`);
    if (seen.has(s.source)) throw new StrongboxError("USAGE", `source ${s.source} is listed twice`);
    seen.add(s.source);
    const rec = s.backup.rec;
    const type = rec.sources.find((x) => x.name === s.source)?.type;
    const main = rec.objects.find((o) => o.source === s.source && !o.part);
    if (!type || !main) throw new StrongboxError("USAGE", `backup ${rec.id} has no source ${s.source}`);
    const parts = rec.objects.filter((o) => o.source === s.source && o.part);
    let baseMain: CompleteObject | undefined;
    if (main.base) {
      if (!s.base || s.base.rec.id !== main.base)
        throw new StrongboxError(
          "VERIFY",
          `backup ${rec.id}: source ${s.source} is a differential of ${main.base}, which was not given`,
        );
      baseMain = s.base.rec.objects.find((o) => o.source === s.source && !o.part);
      if (!baseMain || s.base.rec.sources.find((x) => x.name === s.source)?.type !== "files")
        throw new StrongboxError("VERIFY", `backup ${rec.id}: base ${main.base} holds no files object of ${s.source}`);
      if (baseMain.base)
        throw new StrongboxError(
          "VERIFY",
          `backup ${rec.id}: base ${main.base} is itself a differential (a base must be a full)`,
        );
    }
    return { ...s, type, main, parts, baseMain };
  });
}

export function renderRestoreScript(sources: ScriptSource[], o: ScriptOptions): string {
  if (!sources.length) throw new StrongboxError("USAGE", "nothing to restore: no source chosen");
  const p = plan(sources);
  const dbs = p.filter((s) => s.type === "postgres");
  if (dbs.length > 1)
    throw new StrongboxError(
      "USAGE",
      `the restore point holds ${dbs.length} databases (${dbs.map((s) => s.source).join(", ")}): print one script per database with --source`,
    );
  const backups = new Map<string, ScriptBackup>();
  for (const s of p) for (const b of [s.base, s.backup]) if (b) backups.set(b.rec.id, b);
  // The identity file's default is the config's path, inside "${IDENTITY:-…}": only characters that
  // mean nothing there (no quote, backslash, $, backquote, } or control character).
  if (o.identityFile && !/^[^'"\\$`}\u0000-\u001f\u007f]+$/.test(o.identityFile))
    throw new StrongboxError(
      "CONFIG",
      "encryption.identity_file holds a quote, backslash, $, backquote, } or control character: it cannot be a default in a shell script; print the script without it and set IDENTITY by hand",
    );
  const L: string[] = [];
  const say = (...lines: string[]) => L.push(...lines);
  say(
    "#!/bin/sh",
    "# strongbox hand restore, printed by `strongbox restore … --print-script`. It fetches nothing and needs only",
    "# age, zstd (or gzip), tar, pg_restore, sha256sum and ssh-keygen. Run it as an unprivileged user.",
    comment(
      `restore point: ${p.map((s) => `${s.source} from ${s.backup.rec.id}${s.base ? ` (differential of ${s.base.rec.id})` : ""}`).join(", ")}`,
    ),
    ...(o.repository ? [comment(`listed in ${o.repository}`)] : []),
    "#   REPO        a local copy of the repository's prefix (the directory that holds backups/), absolute",
    "#   IDENTITY    the age identity file, absolute",
    "#   TARGET      files sources are restored into $TARGET/<source>, each of which must be empty or absent",
    ...(dbs.length ? ["#   TARGET_URL  the database to restore into (create it first; it should be empty)"] : []),
    "set -eu",
    `: "\${REPO:?set REPO to the absolute path of the copied prefix (the directory holding backups/)}"`,
    o.identityFile
      ? `IDENTITY="\${IDENTITY:-${o.identityFile}}"`
      : `: "\${IDENTITY:?set IDENTITY to the absolute path of the age identity file}"`,
    `: "\${TARGET:?set TARGET to the absolute path of the directory to restore into}"`,
    ...(dbs.length ? [`: "\${TARGET_URL:?set TARGET_URL to the database to restore into}"`] : []),
    'for v in "$REPO" "$IDENTITY" "$TARGET"; do case $v in /*) ;; *) echo "strongbox hand restore: $v is not an absolute path" >&2; exit 1 ;; esac; done',
    '[ "$(id -u)" != 0 ] || echo "strongbox hand restore: running as root; a forged backup could write anywhere root may: prefer an unprivileged user" >&2',
    "FAILED=$(mktemp)",
    'trap \'rm -f "$FAILED" "${ALLOWED:-}"\' EXIT',
    "# a pipeline fails if any of its commands does (POSIX sh has no pipefail)",
    'check_pipe() { if [ -s "$FAILED" ]; then echo "strongbox hand restore: $1: $(cat "$FAILED") failed" >&2; exit 1; fi; }',
  );

  say("", "# 1. authenticity: complete.json of each backup signed by a trusted key (signing.trusted)");
  const signed = [...backups.values()].filter((b) => b.signed);
  if (!o.trustedKeys.length)
    say(
      "# the config trusts no signing key: no signature is checked (anyone who could write to the bucket could have made these backups)",
    );
  else {
    say(
      "# (each key's valid_after/valid_before was checked by strongbox against the store's time of complete.json when it printed this)",
      "ALLOWED=$(mktemp)",
    );
    for (const k of o.trustedKeys)
      say(`printf '%s\\n' ${shQuote(`strongbox namespaces="strongbox-backup" ${k}`)} >> "$ALLOWED"`);
    for (const b of backups.values()) {
      if (!b.signed) {
        say(
          comment(
            `backup ${b.rec.id} is unsigned, trusted by signing.allow_unsigned_before (or --allow-unsigned): no signature to check`,
          ),
        );
        continue;
      }
      const dir = `"$REPO"/backups/${shQuote(b.rec.id)}`;
      say(
        `ssh-keygen -Y verify -f "$ALLOWED" -I strongbox -n strongbox-backup -s ${dir}/complete.json.sig < ${dir}/complete.json`,
      );
    }
    if (!signed.length) say("# (none of them is signed)");
  }

  say("", "# 2. integrity: every object the restore reads, against complete.json's SHA-256");
  for (const b of backups.values()) {
    const objs = p.flatMap((s) =>
      s.backup.rec.id === b.rec.id
        ? [s.main, ...s.parts]
        : s.base?.rec.id === b.rec.id && s.baseMain
          ? [s.baseMain]
          : [],
    );
    const lines = [...new Set(objs)].map((x) => {
      if (!/^[0-9a-f]{64}$/.test(x.sha256))
        throw new StrongboxError("VERIFY", `backup ${b.rec.id}: ${x.key} has no SHA-256`);
      return `${shQuote(`${x.sha256}  ${objectFile(b.rec, x)}`)}`;
    });
    say(`(cd "$REPO"/backups/${shQuote(b.rec.id)} && printf '%s\\n' ${lines.join(" ")} | sha256sum -c -)`);
  }

  const layer = (rec: CompleteRecord, x: CompleteObject, dirVar: string, incremental: boolean) => {
    const path = `"$REPO"/backups/${shQuote(rec.id)}/${shQuote(objectFile(rec, x))}`;
    say(
      `{ age -d -i "$IDENTITY" ${path} || echo age >> "$FAILED"; } | { ${decompressor(x.key)} || echo ${shQuote(decompressor(x.key).split(" ")[0])} >> "$FAILED"; } \\`,
      `  | tar -x${incremental ? " -g /dev/null" : ""} --no-same-owner -f - -C "${dirVar}"`,
      `check_pipe ${shQuote(`${rec.id}/${objectFile(rec, x)}`)}`,
    );
  };
  const files = p.filter((s) => s.type === "files");
  if (files.length)
    say(
      "",
      "# 3. files sources, each into an empty directory; a differential: its base full first, then it (GNU tar's incremental extraction)",
    );
  for (const s of files) {
    say(
      `D="$TARGET"/${shQuote(s.source)}`,
      'mkdir -p -- "$D"',
      '[ -z "$(ls -A -- "$D")" ] || { echo "strongbox hand restore: $D is not empty" >&2; exit 1; }',
    );
    if (s.base && s.baseMain) {
      say(comment(`${s.source}: the base full ${s.base.rec.id}, then the differential ${s.backup.rec.id}`));
      layer(s.base.rec, s.baseMain, "$D", true);
      layer(s.backup.rec, s.main, "$D", true);
    } else layer(s.backup.rec, s.main, "$D", false);
  }
  for (const s of dbs) {
    say(
      "",
      comment(
        `4. database ${s.source}: pg_restore (at least as new as the pg_dump that wrote it) into $TARGET_URL, in one transaction`,
      ),
    );
    const path = `"$REPO"/backups/${shQuote(s.backup.rec.id)}/${shQuote(objectFile(s.backup.rec, s.main))}`;
    say(
      `{ age -d -i "$IDENTITY" ${path} || echo age >> "$FAILED"; } | { ${decompressor(s.main.key)} || echo ${shQuote(decompressor(s.main.key).split(" ")[0])} >> "$FAILED"; } \\`,
      '  | pg_restore --no-owner --exit-on-error --single-transaction --dbname="$TARGET_URL"',
      `check_pipe ${shQuote(`${s.backup.rec.id}/${objectFile(s.backup.rec, s.main)}`)}`,
    );
    for (const part of s.parts) {
      say(comment(`roles and other globals (${part.part}), if wanted, with psql as a superuser:`));
      say(
        comment(
          `age -d -i "$IDENTITY" "$REPO"/backups/${s.backup.rec.id}/${objectFile(s.backup.rec, part)} | ${decompressor(part.key)} | psql "$ADMIN_URL"`,
        ),
      );
    }
  }
  say("", 'echo "strongbox hand restore: done"');
  return `${L.join("\n")}\n`;
}

/**
 * The script for a list of (source → backup record), as `points` picks them (one backup, or one per
 * source): reads each differential's base (checking it is trusted like the backup itself) and
 * whether each backup is signed, then renders the script.
 */
export async function restoreScript(
  repo: Repository,
  picks: { source: string; rec: CompleteRecord }[],
  o: ScriptOptions & { trust?: TrustOptions },
): Promise<string> {
  const signedCache = new Map<string, boolean>();
  const backupOf = async (rec: CompleteRecord): Promise<ScriptBackup> => {
    if (!signedCache.has(rec.id))
      signedCache.set(rec.id, Boolean((await repo.listBackups(rec.id)).find((b) => b.id === rec.id)?.signedBy));
    return { rec, signed: signedCache.get(rec.id)! };
  };
  const sources: ScriptSource[] = [];
  for (const { source, rec } of picks) {
    const base = rec.objects.find((x) => x.source === source && !x.part)?.base;
    let baseBackup: ScriptBackup | undefined;
    if (base) {
      await repo.checkTrusted(base, o.trust);
      baseBackup = await backupOf(await repo.readComplete(base));
    }
    sources.push({ source, backup: await backupOf(rec), ...(baseBackup ? { base: baseBackup } : {}) });
  }
  return renderRestoreScript(sources, o);
}
