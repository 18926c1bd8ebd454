import { acquireLock, repositoryIdentity } from "../repository/lock.js";
import type { CommandContext } from "./context.js";

/** Runs fn holding this host's lock on the configured repository (released however fn ends). */
export async function withRepositoryLock<T>(ctx: CommandContext, command: string, fn: () => Promise<T>): Promise<T> {
  const config = ctx.config();
  const identity = repositoryIdentity(config.repository.url, config.repository.s3);
  const release = await acquireLock(identity, command, config.lock_dir);
  try {
    return await fn();
  } finally {
    await release();
  }
}
