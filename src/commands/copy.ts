import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { loadConfig } from "../config/load.js";
import { NotFoundError, StrongboxError } from "../errors.js";
import { storeStream } from "../engine/backup.js";
import { formatBytes } from "../progress.js";
import { MAX_COMPLETE_BYTES, parseComplete, type CompleteRecord } from "../repository/complete.js";
import { BACKUPS, idOfKey, keys } from "../repository/layout.js";
import { checkBackupRef, drain, readAll, Repository } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import { LocalDirStore } from "../stores/local-dir.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { Store } from "../stores/store.js";
import type { CommandContext } from "./context.js";
import { sweepLeftovers } from "./leftovers.js";
import { runCommand } from "./lifecycle.js";

interface Destination {
  description: string;
  writer: Store;
  /** Where the destination can be listed (file://, or a config with reader credentials): to skip what is there. */
  reader?: Repository;
}

async function openDestination(ctx: CommandContext, to: string): Promise<Destination> {
  if (to.startsWith("file://")) {
    const store = new LocalDirStore(decodeURIComponent(new URL(to).pathname).replace(/\/+$/, ""));
    return { description: store.description, writer: store, reader: new Repository(store) };
  }
  if (/^[a-z0-9]+:\/\//i.test(to))
    throw new StrongboxError(
      "USAGE",
      `copy --to: ${to} is neither a file:// URL nor a config file (for S3, give a config file whose writer role writes the copy)`,
    );
  const config = loadConfig(to, ctx.env);
  const writer = await openStore(config, "writer");
  const reader =
    config.repository.url.startsWith("file://") || config.repository.s3?.credentials.reader
      ? new Repository(await openStore(config, "reader"))
      : undefined;
  return { description: writer.description, writer, reader };
}

/** What became of one backup: copied (objects, bytes; those already there, checked or not), or skipped. */
type Done = { objects: number; bytes: number; already?: number; unchecked?: number } | "skipped";

const exists = (err: unknown) => err instanceof StrongboxError && /already exists, not overwriting/.test(err.message);
const isVerify = (err: unknown): err is StrongboxError => err instanceof StrongboxError && err.code === "VERIFY";

/**
 * 3-2-1: copies complete backups byte for byte to a second repository. Every object is streamed from
 * the source through its size and SHA-256 check (complete.json's) into the destination, which keeps it
 * only if the check passed; complete.json, byte-identical, goes last. A differential's base is copied
 * first.
 *
 * What the destination already holds is checked before anything is called copied. Where the
 * destination can be read (file://, or a --to config with reader credentials): a complete.json
 * there must be byte for byte the source's (else exit 3), and the backup is skipped once every
 * object it lists is there at its size; without complete.json, each object already there is read
 * and must match the source's complete.json (size and SHA-256, else exit 3, and nothing is
 * committed), and only the missing ones are copied. Where it cannot be read (writer role only),
 * nothing there can be checked: a backup with some of its objects already there is refused
 * (exit 3: give the --to config reader credentials); with all of them there, the destination's
 * refusal to overwrite complete.json tells a finished copy (skipped) from one that stopped just
 * before it (committed, and said to be unchecked).
 *
 * A damaged source backup (or one whose base is damaged) is reported and the others are still
 * copied; the run then exits 3.
 */
export async function copyCommand(
  ctx: CommandContext,
  ref: string,
  o: { to: string; signal?: AbortSignal; job?: string },
): Promise<void> {
  checkBackupRef(ref, ["all"]);
  const config = ctx.config();
  // A deadline or SIGTERM (the daemon's signal) ends even a stalled read.
  const source = new Repository(abortableStore(await openStore(config, "reader"), o.signal), repositoryOptions(config));
  const dest = await openDestination(ctx, o.to);
  if (dest.description === source.store.description)
    throw new StrongboxError("USAGE", `copy --to: ${o.to} is the source repository itself`);
  const result = {
    to: dest.description,
    copied: [] as { id: string; objects: number; bytes: number; already?: number; unchecked?: number }[],
    skipped: [] as { id: string; why: string }[],
    failed: [] as { id: string; why: string }[],
    leftovers_removed: { count: 0, bytes: 0 },
  };
  const run = async () => {
    // Temp files a killed copy left in the destination (its own name pattern: this host, a dead PID; or a day old).
    result.leftovers_removed = await sweepLeftovers(ctx, dest.writer);
    const listing = await source.listBackups();
    const failed = new Map<string, string>();
    const fail = (id: string, why: string) => {
      if (failed.has(id)) return;
      failed.set(id, why);
      result.failed.push({ id, why });
      ctx.log.error(`not copied: ${id}: ${why}`, { id, to: dest.description });
    };
    // copy all: a damaged or untrusted backup is reported, and the others are copied.
    if (ref === "all") {
      for (const b of [...listing].reverse()) {
        if (b.damaged) fail(b.id, b.damaged);
        else if (b.untrusted?.length) fail(b.id, `untrusted: ${b.untrusted.join("; ")}`);
      }
    }
    const trust = { warn: (m: string) => ctx.log.warn(m) };
    const wanted =
      ref === "all"
        ? listing
            .filter((b) => b.complete && !b.untrusted?.length)
            .map((b) => b.id)
            .reverse()
        : [(await source.resolve(ref, [], trust)).id];
    // Bases before the differentials that need them.
    const order: string[] = [];
    const records = new Map<string, { rec: CompleteRecord; raw: Buffer }>();
    const add = async (id: string): Promise<boolean> => {
      if (failed.has(id)) return false;
      if (records.has(id)) return true;
      // What the listing judged: a base pulled in by a differential is judged like the backup named.
      const judged = listing.find((b) => b.id === id);
      if (judged?.damaged) {
        fail(id, judged.damaged);
        return false;
      }
      if (judged?.untrusted?.length) {
        fail(id, `untrusted: ${judged.untrusted.join("; ")}`);
        return false;
      }
      let rec: CompleteRecord;
      let raw: Buffer;
      try {
        raw = await readAll(await source.store.get(keys.complete(id)), MAX_COMPLETE_BYTES);
        // The bytes copied must be the bytes judged (a writer may overwrite complete.json in between).
        if (judged?.completeSha256 && createHash("sha256").update(raw).digest("hex") !== judged.completeSha256) {
          fail(id, `backups/${id}/complete.json changed after it was listed and judged: not copied (list it again)`);
          return false;
        }
        rec = parseComplete(raw, id);
      } catch (err) {
        // A base the source no longer holds (pruned, or lost) fails only the differentials on it.
        if (err instanceof NotFoundError) {
          fail(id, `backup ${id} is not in the source repository (no complete.json)`);
          return false;
        }
        if (!isVerify(err)) throw err;
        fail(id, err.message);
        return false;
      }
      records.set(id, { rec, raw });
      for (const base of new Set(rec.objects.flatMap((x) => (x.base ? [x.base] : [])))) {
        if (!(await add(base))) {
          fail(id, `its base ${base} cannot be copied`);
          return false;
        }
      }
      order.push(id);
      return true;
    };
    for (const id of wanted) await add(id);
    const held = dest.reader ? await objectsByBackup(dest.reader.store) : undefined;
    for (const id of order) {
      const { rec, raw } = records.get(id)!;
      const lost = rec.objects.find((x) => x.base && failed.has(x.base));
      if (lost) {
        fail(id, `its base ${lost.base} was not copied`);
        continue;
      }
      try {
        const done = held ? await copyChecked(rec, raw, held.get(id) ?? new Map()) : await copyBlind(rec, raw);
        if (done === "skipped") {
          result.skipped.push({ id, why: "already in the destination" });
          continue;
        }
        result.copied.push({ id, ...done });
        ctx.log.info(`copied ${id}`, { ...done, to: dest.description });
        if (done.unchecked)
          ctx.log.warn(
            `${id}: ${done.unchecked} of its objects were already in ${dest.description} and could not be checked (the --to config has no reader credentials): run verify there`,
          );
      } catch (err) {
        if (!isVerify(err)) throw err;
        fail(id, err.message);
      }
    }
    const total = result.copied.reduce((n, c) => n + c.bytes, 0);
    const summary = `copy to ${dest.description}: ${result.copied.length} copied (${formatBytes(total)}), ${result.skipped.length} already there`;
    if (result.failed.length)
      return {
        summary: `${summary}, ${result.failed.length} NOT copied (${result.failed.map((f) => f.id).join(", ")})`,
        failed: true,
      };
    return { summary };
  };

  /** One object from the source, through its check, into the destination. */
  const copyObject = async (rec: CompleteRecord, key: string) => {
    await storeStream(
      dest.writer,
      key,
      [await source.getChecked(rec, key), new PassThrough({ highWaterMark: 1024 * 1024 })],
      o.signal,
    );
  };
  /** complete.json, byte for byte the source's, last: false when the destination already has one. */
  /** complete.json (and its signature) written: how many objects that was, or 0 when the destination already had a complete.json. */
  const commit = async (rec: CompleteRecord, raw: Buffer): Promise<number> => {
    // The signature before complete.json, as a backup writes them (none for an unsigned backup).
    const sig = await source.readSignature(rec.id);
    if (sig) {
      try {
        await dest.writer.put(keys.completeSig(rec.id), Readable.from([sig]), { signal: o.signal });
      } catch (err) {
        if (!exists(err)) throw err;
      }
    }
    try {
      await dest.writer.put(keys.complete(rec.id), Readable.from([raw]), { signal: o.signal });
      return sig ? 2 : 1;
    } catch (err) {
      if (!exists(err)) throw err;
      return 0;
    }
  };

  /** A readable destination: what it holds of this backup is checked, the rest copied. */
  const copyChecked = async (rec: CompleteRecord, raw: Buffer, there: Map<string, number>): Promise<Done> => {
    const id = rec.id;
    const reader = dest.reader!;
    const markerThere = there.has(keys.complete(id));
    if (markerThere) {
      const theirs = await readAll(await reader.store.get(keys.complete(id)), MAX_COMPLETE_BYTES).catch((err) => {
        throw isVerify(err)
          ? new StrongboxError(
              "VERIFY",
              `the destination holds another complete.json for ${id} (larger than any): not copied`,
            )
          : err;
      });
      if (!theirs.equals(raw))
        throw new StrongboxError(
          "VERIFY",
          `the destination holds another complete.json for ${id} than the source's: not copied (check the destination: verify ${id})`,
        );
    }
    let bytes = 0;
    let already = 0;
    for (const obj of rec.objects) {
      const size = there.get(obj.key);
      if (size !== undefined) {
        if (size !== obj.size)
          throw new StrongboxError(
            "VERIFY",
            `the destination already holds ${obj.key} with ${size} bytes, complete.json says ${obj.size}: not copied (remove the partial backup ${id} there, or check it)`,
          );
        // With complete.json there too, sizes are what a listing checks; without it, every byte is.
        if (!markerThere) {
          await drain(await reader.getChecked(rec, obj.key)).catch((err) => {
            if (!isVerify(err)) throw err;
            const why = err.message.replace(`${obj.key}: `, "").replace(/ \((stored object is )?corrupt\)$/, "");
            throw new StrongboxError(
              "VERIFY",
              `the destination already holds ${obj.key}, and it is not this backup's object (${why}): not copied (remove the partial backup ${id} there, or check it)`,
            );
          });
        }
        already++;
        continue;
      }
      await copyObject(rec, obj.key);
      bytes += obj.size;
    }
    if (markerThere && already === rec.objects.length) return "skipped";
    const committed = markerThere ? 0 : await commit(rec, raw);
    if (!markerThere && !committed)
      throw new StrongboxError(
        "VERIFY",
        `complete.json of ${id} appeared in the destination during the copy: check it (verify ${id} there)`,
      );
    return { objects: rec.objects.length + committed, bytes, ...(already ? { already } : {}) };
  };

  /** A destination that cannot be read (writer role only): its refusals to overwrite are all it says. */
  const copyBlind = async (rec: CompleteRecord, raw: Buffer): Promise<Done> => {
    let bytes = 0;
    const there: string[] = [];
    for (const obj of rec.objects) {
      try {
        await copyObject(rec, obj.key);
        bytes += obj.size;
      } catch (err) {
        if (!exists(err)) throw err;
        there.push(obj.key);
      }
    }
    if (there.length && there.length < rec.objects.length) {
      throw new StrongboxError(
        "VERIFY",
        `the destination already holds ${there.length} of the ${rec.objects.length} objects of ${rec.id} (${there[0]}${there.length > 1 ? ", …" : ""}), which the --to config cannot read to check: not committed. Add the destination's reader credentials to it (copy then checks them by SHA-256 and completes the backup), or remove the partial backup there`,
      );
    }
    const committed = await commit(rec, raw);
    if (!committed) {
      if (!there.length)
        throw new StrongboxError(
          "VERIFY",
          `the destination already holds a complete.json for ${rec.id} but none of its objects: not copied (check the destination)`,
        );
      return "skipped";
    }
    return {
      objects: rec.objects.length + committed,
      bytes,
      ...(there.length ? { already: there.length, unchecked: there.length } : {}),
    };
  };

  // A schedule job notifies like the other jobs; a manual copy does not (as before).
  const outcome = await runCommand(ctx, { command: "copy", job: o.job, notify: Boolean(o.job), signal: o.signal }, run);
  ctx.print(
    result,
    () =>
      [
        ...result.copied.map(
          (c) =>
            `${c.id}  copied (${c.objects} objects, ${formatBytes(c.bytes)}${c.already ? `; ${c.already} already there${c.unchecked ? ", not checked" : ""}` : ""})`,
        ),
        ...result.skipped.map((s) => `${s.id}  skipped (${s.why})`),
        ...result.failed.map((f) => `${f.id}  NOT COPIED: ${f.why}`),
      ].join("\n") || "nothing to copy",
  );
  // Every backup that could be copied was; the damaged ones make the run fail at its end.
  if (outcome.failed) throw new StrongboxError("VERIFY", outcome.summary);
}

/** The destination's objects, by backup id: key → size. */
async function objectsByBackup(store: Store): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for await (const o of store.list(BACKUPS)) {
    const id = idOfKey(o.key);
    if (!id) continue;
    if (!out.has(id)) out.set(id, new Map());
    out.get(id)!.set(o.key, o.size);
  }
  return out;
}
