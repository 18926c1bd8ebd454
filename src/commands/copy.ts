import { fileUrlPath, isFileUrl } from "../config/file-url.js";
import { loadConfig } from "../config/load.js";
import { StrongboxError } from "../errors.js";
import { copyBackups, type CopyDestination, type CopyResult } from "../engine/copy.js";
import { formatBytes } from "../progress.js";
import { repositoryIdentity } from "../repository/lock.js";
import { checkBackupRef, Repository } from "../repository/repository.js";
import { repositoryOptions } from "../repository/options.js";
import { LocalDirStore } from "../stores/local-dir.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import type { CommandContext } from "./context.js";
import { sweepLeftovers } from "./leftovers.js";
import { runCommand } from "./lifecycle.js";

async function openDestination(ctx: CommandContext, to: string): Promise<CopyDestination> {
  if (isFileUrl(to)) {
    const store = new LocalDirStore(fileUrlPath(to, "USAGE", "copy --to"));
    return {
      description: store.description,
      identity: repositoryIdentity(to),
      writer: store,
      reader: new Repository(store),
    };
  }
  if (/^[a-z0-9]+:\/\//i.test(to))
    throw new StrongboxError(
      "USAGE",
      `copy --to: ${to} is neither a file:// URL nor a config file (for S3, give a config file whose writer role writes the copy)`,
    );
  const config = loadConfig(to, ctx.env);
  const writer = await openStore(config, "writer");
  const reader =
    isFileUrl(config.repository.url) || config.repository.s3?.credentials.reader
      ? new Repository(await openStore(config, "reader"))
      : undefined;
  const identity = repositoryIdentity(config.repository.url, config.repository.s3);
  return { description: writer.description, identity, writer, reader };
}

/** `copy <id|latest|all> --to DEST`: 3-2-1, byte for byte, checked (engine/copy.ts). */
export async function copyCommand(
  ctx: CommandContext,
  ref: string,
  o: { to: string; signal?: AbortSignal; job?: string },
): Promise<void> {
  checkBackupRef(ref, ["all"]); // its syntax: a usage error, before waiting for any lock
  const config = ctx.config();
  const result: CopyResult = {
    to: o.to,
    copied: [],
    skipped: [],
    failed: [],
    leftovers_removed: { count: 0, bytes: 0 },
  };
  // A schedule job notifies like the other jobs; a manual copy does not (as before).
  const outcome = await runCommand(
    ctx,
    // From the CLI, SIGINT/SIGTERM stop it cleanly (as backup and restore): while it waits for the lock, or between writes.
    { command: "copy", job: o.job, notify: Boolean(o.job), signal: o.signal, interrupt: true },
    async (signal) => {
      // Inside the job: a destination that cannot be opened is a failed job, notified and audited.
      // A deadline or SIGTERM (the daemon's signal) ends even a stalled read.
      const store = abortableStore(await openStore(config, "reader"), signal);
      const source = new Repository(store, repositoryOptions(config));
      const dest = await openDestination(ctx, o.to);
      // One repository however it is spelled (the lock's identity: trailing slashes, symlinks, host case).
      if (dest.identity === repositoryIdentity(config.repository.url, config.repository.s3))
        throw new StrongboxError("USAGE", `copy --to: ${o.to} is the source repository itself`);
      result.to = dest.description;
      // Temp files a killed copy left in the destination (its own name pattern: this host, a dead PID; or a day old).
      result.leftovers_removed = await sweepLeftovers(ctx, dest.writer);
      const sources = config.sources.map((s) => s.name);
      return copyBackups({ source, dest, ref, sources, log: ctx.log, signal, result });
    },
  );
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
