import { acquireLock } from "../scheduler/lock.js";
import type { CommandContext } from "./context.js";

/** Runs fn holding this host's lock on the configured repository (released however fn ends). */
export async function withRepositoryLock<T>(ctx: CommandContext, command: string, fn: () => Promise<T>): Promise<T> {
  const config = ctx.config();
  const release = await acquireLock(config.repository.url, command, config.lock_dir);
  try {
    return await fn();
  } finally {
    await release();
  }
}
