import { configPath, configWarnings, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import type { Identity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import { jsonOutput } from "../json-output.js";
import { Logger, type Level } from "../log.js";
import { redact } from "../secrets.js";
import { escapeControl } from "../terminal-safe.js";

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** How long to wait for a held repository lock (a duration); the commands that take the lock have it. */
  retryLock?: string;
}

/** What every command gets: options, a logger on stderr, and an output channel on stdout. */
export class CommandContext {
  readonly log: Logger;
  readonly json: boolean;
  private cachedConfig?: Config;

  constructor(
    readonly options: GlobalOptions,
    readonly env: NodeJS.ProcessEnv = process.env,
    readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {
    const level: Level = options.verbose ? "debug" : options.quiet ? "warn" : "info";
    this.log = new Logger({ level });
    this.json = Boolean(options.json);
  }

  get configFile(): string {
    return configPath(this.options.config, this.env);
  }

  config(): Config {
    if (!this.cachedConfig) {
      this.cachedConfig = loadConfig(this.configFile, this.env);
      for (const w of configWarnings(this.cachedConfig)) this.log.warn(w);
    }
    return this.cachedConfig;
  }

  async identities(): Promise<Identity[]> {
    const enc = this.config().encryption;
    const file = enc.identity_file;
    if (!file)
      throw new StrongboxError(
        "CONFIG",
        "encryption.identity_file: required to decrypt backups (restore, verify, drill)",
      );
    // Loaded here, not at start-up: it brings the age library, which the commands that only encrypt do not need.
    const { loadIdentityFile } = await import("../crypto/identity-file.js");
    const ids = await loadIdentityFile(file, enc.identity_passphrase_file, this.env);
    return ids;
  }

  /** The same context with some config keys replaced (a schedule job's own `notify`). */
  withConfig(patch: Partial<Config>): CommandContext {
    const derived = Object.create(this) as CommandContext;
    derived.cachedConfig = { ...this.config(), ...patch };
    return derived;
  }

  /** The same context with some options replaced (a schedule job's lock wait). */
  withOptions(patch: Partial<GlobalOptions>): CommandContext {
    const derived = Object.create(this) as { options: GlobalOptions };
    derived.options = { ...this.options, ...patch };
    return derived as unknown as CommandContext;
  }

  /** Prints a result: with --json, hands it to the run's one JSON document (src/json-output.ts); else the human text. */
  print(result: unknown, text: string | (() => string)): void {
    if (this.json) jsonOutput.set(result);
    else {
      // The result is the command's output, not a log line: --quiet silences logs, never this.
      const t = typeof text === "function" ? text() : text;
      if (t) this.stdout.write(escapeControl(redact(t.endsWith("\n") ? t : `${t}\n`)));
    }
  }
}
