import { PassThrough, Readable } from "node:stream";
import { loadConfig } from "../config/load.js";
import { StrongboxError } from "../errors.js";
import { storeStream } from "../pipeline/run-backup.js";
import { formatBytes } from "../progress.js";
import { parseComplete, type CompleteRecord } from "../repository/complete.js";
import { keys } from "../repository/layout.js";
import { trustPolicy } from "../crypto/signing.js";
import { checkBackupRef, readAll, Repository } from "../repository/repository.js";
import { LocalDirStore } from "../stores/local-dir.js";
import { openStore } from "../stores/open-store.js";
import type { Store } from "../stores/store.js";
import type { CommandContext } from "./context.js";
import { runJob } from "./job.js";
import { withRepositoryLock } from "./repository-lock.js";

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
  if (/^[a-z0-9]+:\/\//i.test(to)) throw new StrongboxError("USAGE", `copy --to: ${to} is neither a file:// URL nor a config file (for S3, give a config file whose writer role writes the copy)`);
  const config = loadConfig(to, ctx.env);
  const writer = await openStore(config, "writer");
  const reader = config.repository.url.startsWith("file://") || config.repository.s3?.credentials.reader ? new Repository(await openStore(config, "reader")) : undefined;
  return { description: writer.description, writer, reader };
}

const exists = (err: unknown) => err instanceof StrongboxError && /already exists, not overwriting/.test(err.message);

/**
 * 3-2-1: copies complete backups byte for byte to a second repository. Every object is streamed from
 * the source through its size and SHA-256 check (complete.json's) into the destination, which keeps it
 * only if the check passed; complete.json, byte-identical, goes last. A differential's base is copied
 * first. What is already there is skipped: by listing where the destination can be listed, else by
 * the destination's refusal to overwrite.
 */
export async function copyCommand(ctx: CommandContext, ref: string, o: { to: string; signal?: AbortSignal }): Promise<void> {
  checkBackupRef(ref, ["all"]);
  const config = ctx.config();
  const source = new Repository(await openStore(config, "reader"), trustPolicy(config));
  const dest = await openDestination(ctx, o.to);
  if (dest.description === source.store.description) throw new StrongboxError("USAGE", `copy --to: ${o.to} is the source repository itself`);
  const result = { to: dest.description, copied: [] as { id: string; objects: number; bytes: number }[], skipped: [] as { id: string; why: string }[] };
  const run = async () => {
    const listing = await source.listBackups();
    const wanted = ref === "all" ? listing.filter((b) => b.complete).map((b) => b.id).reverse() : [(await source.resolve(ref)).id];
    // Bases before the differentials that need them.
    const order: string[] = [];
    const records = new Map<string, { rec: CompleteRecord; raw: Buffer }>();
    const add = async (id: string) => {
      if (records.has(id)) return;
      const raw = await readAll(await source.store.get(keys.complete(id)), 64 * 1024 * 1024);
      const rec = parseComplete(raw.toString("utf8"), id);
      records.set(id, { rec, raw });
      for (const base of new Set(rec.objects.flatMap((x) => (x.base ? [x.base] : [])))) await add(base);
      order.push(id);
    };
    for (const id of wanted) await add(id);
    const present = new Set((await dest.reader?.listBackups())?.filter((b) => b.complete).map((b) => b.id) ?? []);
    for (const id of order) {
      if (present.has(id)) {
        result.skipped.push({ id, why: "already in the destination" });
        continue;
      }
      const { rec, raw } = records.get(id)!;
      let bytes = 0;
      for (const obj of rec.objects) {
        try {
          await storeStream(dest.writer, obj.key, [await source.getChecked(rec, obj.key), new PassThrough({ highWaterMark: 1024 * 1024 })], o.signal);
          bytes += obj.size;
        } catch (err) {
          // Written by an earlier, interrupted copy: a store keeps an object only once its check passed.
          if (!exists(err)) throw err;
        }
      }
      // The signature before complete.json, as a backup writes them (none for an unsigned backup).
      const sig = await source.readSignature(id);
      if (sig) {
        try {
          await dest.writer.put(keys.completeSig(id), Readable.from([sig]), { signal: o.signal });
        } catch (err) {
          if (!exists(err)) throw err;
        }
      }
      try {
        await dest.writer.put(keys.complete(id), Readable.from([raw]), { signal: o.signal });
      } catch (err) {
        if (!exists(err)) throw err;
        result.skipped.push({ id, why: "already in the destination" });
        continue;
      }
      result.copied.push({ id, objects: rec.objects.length + (sig ? 2 : 1), bytes });
      ctx.log.info(`copied ${id}`, { objects: rec.objects.length + (sig ? 2 : 1), bytes, to: dest.description });
    }
    const total = result.copied.reduce((n, c) => n + c.bytes, 0);
    return { summary: `copy to ${dest.description}: ${result.copied.length} copied (${formatBytes(total)}), ${result.skipped.length} already there` };
  };
  await withRepositoryLock(ctx, "copy", () => runJob(ctx, "copy", "copy", run, { notify: false }));
  ctx.print(result, () =>
    [...result.copied.map((c) => `${c.id}  copied (${c.objects} objects, ${formatBytes(c.bytes)})`), ...result.skipped.map((s) => `${s.id}  skipped (${s.why})`)].join("\n") || "nothing to copy",
  );
}
