import { basename, dirname } from "node:path";
import type { Config } from "../config/schema.js";
import { readSigningKey, trustPolicy } from "../crypto/signing.js";
import type { SigningKey } from "../crypto/ssh-signature.js";
import { describeIgnored } from "../wal/select.js";
import { describeError, InterruptedError, NotFoundError, StrongboxError } from "../errors.js";
import { abortableStore } from "../stores/abortable.js";
import { openStore } from "../stores/open-store.js";
import { controlSystemId, parseSystemId } from "../wal/header.js";
import { fetchWal } from "../wal/fetch.js";
import { pushWal, walLockOptions } from "../wal/push.js";
import { recordPushed } from "../wal/last-pushed.js";
import { defaultStateDir } from "../differential/state.js";
import { isReady, spoolDir } from "../wal/spool.js";
import { runSpoolWorker } from "../wal/spool-worker.js";
import type { CommandContext } from "./context.js";
import { asyncSettings, pushThroughSpool, repositoryId, systemIdOfFile } from "./wal-async.js";

export interface WalOptions {
  systemId?: string;
  signal?: AbortSignal;
}

/** `archive_command`: writer role and recipients only. Exit 0 means stored (now or before); anything else, PostgreSQL retries. */
export async function walPushCommand(ctx: CommandContext, path: string, o: WalOptions = {}): Promise<void> {
  const config = ctx.config();
  const systemId = o.systemId === undefined ? undefined : parseSystemId(o.systemId);
  const r = (await pushAsync(ctx, config, path, systemId)) ?? (await pushNow(config, path, systemId, o.signal));
  ctx.log.debug(`${r.name}: ${r.stored ? "archived as" : "already archived as"} ${r.key}`);
  // For /metrics and doctor: the newest archived file and when (the writer cannot list the repository).
  await recordPushed(config.state_dir ?? defaultStateDir(ctx.env), r.systemId, r.name).catch((err: unknown) =>
    ctx.log.warn(`could not record the newest archived WAL file in the state directory: ${(err as Error).message}`),
  );
  ctx.print(r, "");
}

async function pushNow(config: Config, path: string, systemId: string | undefined, signal?: AbortSignal) {
  const signingKey = walSigningKey(config);
  const store = abortableStore(await openStore(config, "writer", walLockOptions(config)), signal);
  return pushWal(config, store, path, { systemId, signingKey, signal });
}

/** With `wal.async`, a file PostgreSQL marked ready goes through the spool's worker; undefined: push it here. */
async function pushAsync(ctx: CommandContext, config: Config, path: string, systemId: string | undefined) {
  const settings = asyncSettings(config);
  if (!settings || !(await isReady(dirname(path), basename(path)))) return undefined;
  const sysid = await systemIdOfFile(path, systemId);
  if (!sysid) return undefined;
  const stateDir = config.state_dir ?? defaultStateDir(ctx.env);
  return pushThroughSpool(ctx.configFile, ctx.env, stateDir, settings, repositoryId(config), path, sysid);
}

/** The spool's worker (started by `wal push` with `wal.async`): stores the ready files in `walDir`, then exits when idle. */
export async function walPushWorkerCommand(ctx: CommandContext, walDir: string, o: WalOptions = {}): Promise<void> {
  const config = ctx.config();
  const settings = asyncSettings(config);
  if (!settings || o.systemId === undefined)
    throw new StrongboxError("USAGE", "wal push-worker is started by wal push, with wal.async configured");
  const systemId = parseSystemId(o.systemId);
  await runSpoolWorker({
    walDir,
    spool: spoolDir(config.state_dir ?? defaultStateDir(ctx.env), systemId),
    repository: repositoryId(config),
    processes: settings.processes,
    queueMax: settings.queue_max,
    idleMs: IDLE_MS,
    push: (path) => pushNow(config, path, systemId, o.signal),
    log: (line) => ctx.log.info(line),
  });
}

/** A worker with nothing ready for this long exits; the next `wal push` starts another. */
const IDLE_MS = 2000;

/** The key `wal push` signs with: none without `signing`; a CONFIG error when signing is configured but this host has no key. */
function walSigningKey(config: Config): SigningKey | undefined {
  if (!config.signing) return undefined;
  if (!config.signing.key_file)
    throw new StrongboxError(
      "CONFIG",
      "signing.key_file: required for wal push (signing is configured, and unsigned WAL is not replayed by a host that trusts signing keys); make one with 'strongbox keygen --signing -o FILE'",
    );
  return readSigningKey(config.signing.key_file);
}

/**
 * `restore_command`: reader role and identity. A file that is not archived exits 1 (the end of
 * recovery); every other failure (a damaged or doubled file, a dead store, a wrong key, a bad
 * config) exits 255, so that PostgreSQL stops recovery instead of ending it early and promoting.
 */
export async function walFetchCommand(
  ctx: CommandContext,
  name: string,
  dest: string,
  o: WalOptions = {},
): Promise<void> {
  try {
    await fetchInto(ctx, name, dest, o);
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof InterruptedError) throw err;
    throw new StrongboxError("RECOVERY_STOP", `${describeError(err)} (recovery stops here: exit 255)`, { cause: err });
  }
}

async function fetchInto(ctx: CommandContext, name: string, dest: string, o: WalOptions): Promise<void> {
  const config = ctx.config();
  const systemId = o.systemId === undefined ? await controlSystemId(".") : parseSystemId(o.systemId);
  const identities = await ctx.identities();
  const store = abortableStore(await openStore(config, "reader"), o.signal);
  const policy = trustPolicy(config);
  const r = await fetchWal(store, identities, systemId, name, dest, o.signal, policy);
  const ignored = policy ? describeIgnored(r.ignored) : undefined;
  if (ignored) ctx.log.warn(`${name}: ${ignored}`);
  ctx.log.debug(`${name}: restored from ${r.key} (${r.size} bytes)`);
  ctx.print({ name, key: r.key, size: r.size }, "");
}
