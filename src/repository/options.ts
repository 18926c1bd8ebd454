import type { Config } from "../config/schema.js";
import { trustPolicy } from "../crypto/signing.js";
import { clockSkewMs } from "../retention/plausible-time.js";
import type { RepositoryOptions } from "./repository.js";

/** How a command reads a repository: the signing policy and the clock skew its config sets. */
export function repositoryOptions(config: Config): RepositoryOptions {
  return { clockSkewMs: clockSkewMs(config), trust: trustPolicy(config) };
}
