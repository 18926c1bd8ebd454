import { tmpdir } from "node:os";
import type { Logger } from "../log.js";
import { formatBytes } from "../progress.js";
import { PIPE_PREFIX } from "../sources/postgres/block-pipe.js";
import { SPOOL_PREFIX } from "../stores/spool.js";
import { sweepOrphans, type LeftoverCount } from "../temp-names.js";
import type { Store } from "../stores/store.js";

/** Temp files of killed runs on this host: the repository's (local store), the S3 spool's, and dump FIFOs' directories. */
async function leftovers(store: Store, remove: boolean, everywhere: boolean): Promise<LeftoverCount> {
  const a = store.leftovers
    ? await store.leftovers({ remove, everywhere }).catch(() => ({ count: 0, bytes: 0 }))
    : { count: 0, bytes: 0 };
  const b = await sweepOrphans(tmpdir(), SPOOL_PREFIX, "file", { remove });
  const c = await sweepOrphans(tmpdir(), PIPE_PREFIX, "dir", { remove });
  return { count: a.count + b.count + c.count, bytes: a.bytes + b.bytes + c.bytes };
}

/**
 * Run at the start of backup, copy and prune: what a kill -9 left behind goes. Backup and copy look
 * only where temp files are written now, a cost that does not grow with the repository; prune, which
 * lists the whole repository anyway, looks `everywhere`.
 */
export async function sweepLeftovers(
  ctx: { log: Logger },
  store: Store,
  o: { everywhere?: boolean } = {},
): Promise<LeftoverCount> {
  const r = await leftovers(store, true, o.everywhere ?? false);
  if (r.count)
    ctx.log.info(`removed ${r.count} temporary file(s) (${formatBytes(r.bytes)}) left by killed runs`, {
      files: r.count,
      bytes: r.bytes,
    });
  return r;
}

/** `list --all`: everywhere, like prune's sweep. */
export const countLeftovers = (store: Store): Promise<LeftoverCount> => leftovers(store, false, true);
