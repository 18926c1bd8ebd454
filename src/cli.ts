import "./heap-tuning.js";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
// Only types from the command modules: each command loads its own graph when it runs (start-up cost).
import type { CommandContext, GlobalOptions } from "./commands/context.js";
import { PRINCIPAL_HELP } from "./commands/policy-help.js";
import { parseDuration } from "./config/duration.js";
import { ConfigError, describeError, EXIT, exitCodeFor, StrongboxError } from "./errors.js";
import { jsonOutput } from "./json-output.js";
import { redact } from "./secrets.js";
import { guardUnsettled } from "./settle-guard.js";
import { escapeControl, oneLine } from "./terminal-safe.js";
import { VERSION } from "./version.js";

const collect = (value: string, previous: string[]) => [...previous, value];
/** --allow-unsigned of the commands that read one backup's manifest (ls, diff, dump). */
const READ_UNSIGNED = "read this backup even if it is untrusted (unsigned, bad or unknown signature); warns";
/** On every command that takes the repository lock. */
const retryLock = () =>
  new Option(
    "--retry-lock <duration>",
    "if another run holds the repository lock, wait up to DURATION for it (default 0: fail at once)",
  ).argParser((v: string) => {
    if (parseDuration(v) === null)
      throw new InvalidArgumentError(`--retry-lock must be a duration like 30s or 10m, not '${v}'`);
    return v;
  });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander passes each command its own argument types
type Action = (ctx: CommandContext, ...args: any[]) => Promise<unknown>;

export function buildProgram(run: (action: Action, cmd: Command, args: unknown[]) => Promise<void>): Command {
  const program = new Command("strongbox")
    .description("Encrypted, verified, least-privilege backups of PostgreSQL and file directories")
    .version(VERSION, "-V, --version")
    .option("-c, --config <file>", "config file (default: $STRONGBOX_CONFIG, else ./strongbox.yaml)")
    .option("--json", "machine-readable output on stdout (logs stay on stderr)")
    .addOption(new Option("-q, --quiet", "only warnings and errors").conflicts("verbose"))
    .option("-v, --verbose", "debug logging")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: () => {} });

  const bind = (action: Action) =>
    async function (this: Command, ...args: unknown[]) {
      await run(action, this, args.slice(0, -1));
    };

  program
    .command("init [dir]")
    .description("write a sample strongbox.yaml, a new age identity and a signing key")
    .option("--files <path>", "a directory to back up (repeatable; default <dir>/data)", collect, [])
    .option("--pq", "hybrid post-quantum identity (age1pq1…; needs age ≥ 1.3 to restore by hand)")
    .action(bind(async (ctx, dir, o) => (await import("./commands/init.js")).initCommand(ctx, dir, o)));
  program
    .command("keygen")
    .description("new age identity (age-keygen format; X25519 unless --pq); prints the recipient")
    .option("-o, --output <file>", "write the identity to this file (mode 0600)")
    .option(
      "--pq",
      "hybrid post-quantum identity (AGE-SECRET-KEY-PQ-1…, recipient age1pq1…; needs age ≥ 1.3 to restore by hand)",
    )
    .option(
      "--passphrase",
      "encrypt the identity file with a passphrase (from $STRONGBOX_IDENTITY_PASSPHRASE or asked on the terminal)",
    )
    .option(
      "--signing",
      "an Ed25519 signing key instead (OpenSSH format, for signing.key_file); prints its public line for signing.trusted",
    )
    .option("--weak-passphrase", "with --passphrase: accept a passphrase shorter than 12 characters")
    .action(bind(async (ctx, o) => (await import("./commands/keygen.js")).keygenCommand(ctx, o)));
  const config = program.command("config").description("config file commands");
  config
    .command("check")
    .description("validate the config (and a schedule file), reporting every problem; runs nothing")
    .option("--schedule <file>", "also validate this schedule file against the config")
    .action(bind(async (ctx, o) => (await import("./commands/config-check.js")).configCheckCommand(ctx, o)));
  config
    .command("schema")
    .description("print the config file's JSON Schema (for editors: yaml-language-server, and linters)")
    .action(bind(async (ctx) => (await import("./commands/config-schema.js")).configSchemaCommand(ctx)));
  const backup = program.command("backup").description("backup commands");
  backup
    .command("now")
    .description("one backup of all (or the named) sources; prints the backup id")
    .option("--source <name>", "only this source (repeatable)", collect, [])
    .option("--full", "differential files sources take a full backup")
    .addOption(retryLock())
    .action(bind(async (ctx, o) => (await import("./commands/backup.js")).backupNowCommand(ctx, o)));
  program
    .command("list")
    .description("complete backups, newest first")
    .option("--all", "include incomplete backups")
    .action(bind(async (ctx, o) => (await import("./commands/list.js")).listCommand(ctx, o)));
  program
    .command("restore <id>")
    .description("restore a backup (an id or 'latest')")
    .option("--source <name>", "only this source (repeatable)", collect, [])
    .option(
      "--at <time>",
      "with 'latest': per source, the newest restorable backup at or before TIME (ISO 8601 with zone, or a date = end of that day UTC)",
    )
    .option(
      "--to-dir <dir>",
      "restore file sources into DIR/<source>; a postgres-cluster source into DIR itself (a new data directory)",
    )
    .option(
      "--to-db <url>",
      "restore database sources into this database (env:VAR reads the URL from $VAR, keeping its password out of ps)",
    )
    .option(
      "--force",
      "restore into a non-empty directory, or over a database that has tables (pg_restore --clean --if-exists)",
    )
    .option("--no-owner", "databases: do not restore ownership or privileges (restoring into another cluster)")
    .option("--jobs <n>", "databases: parallel pg_restore jobs (spools the dump to a 0600 temporary file)")
    .option(
      "--keep-setuid",
      "files: keep setuid/setgid bits (stripped by default: a forged backup could plant a setuid binary)",
    )
    .option(
      "--allow-unsigned",
      "restore this backup id even if it is untrusted (unsigned, bad or unknown signature); warns loudly",
    )
    .option(
      "--print-script",
      "restore nothing: print the POSIX shell steps that restore it by hand (age, zstd, tar, pg_restore, sha256sum, ssh-keygen)",
    )
    .option(
      "--include <pattern>",
      "files: restore only paths matching this glob, and what they hold (repeatable)",
      collect,
      [],
    )
    .option(
      "--exclude <pattern>",
      "files: leave out paths matching this glob, and what they hold (repeatable)",
      collect,
      [],
    )
    .option(
      "--to-source-paths",
      "files: restore each source into its configured path (needs --force when that is not empty; same staging and rename)",
    )
    .option("--target-time <time>", "clusters: recover up to this time (ISO 8601 with zone)")
    .option("--target-lsn <lsn>", "clusters: recover up to this WAL location (e.g. 0/3000028)")
    .option("--target-xid <xid>", "clusters: recover up to this transaction id")
    .option("--target-action <action>", "clusters: at the target, promote (default), pause or shutdown")
    .option("--start", "clusters: start a throwaway server to recover to the target, report what it reached, stop it")
    .addOption(retryLock())
    // The repository lock (taken by restoreCommand) keeps a concurrent prune from deleting what is being restored.
    .action(bind(async (ctx, id, o) => (await import("./commands/restore.js")).restoreCommand(ctx, id, o)));
  program
    .command("verify <target>")
    .description("download, authenticate, decrypt and check a backup: an id, 'latest' or 'all'")
    .option(
      "--allow-unsigned",
      "verify untrusted backups (unsigned, bad or unknown signature) instead of failing them; warns loudly",
    )
    .addOption(retryLock())
    .action(bind(async (ctx, target, o) => (await import("./commands/verify.js")).verifyCommand(ctx, target, o)));
  program
    .command("drill [target]")
    .description("restore a backup (an id, 'latest' or 'random') into scratch space and prove it")
    .option(
      "--allow-unsigned",
      "drill this backup id even if it is untrusted (unsigned, bad or unknown signature); warns loudly",
    )
    .option("--target-time <time>", "clusters: recover up to this time (default: to the newest archived WAL)")
    .addOption(retryLock())
    .action(
      bind(async (ctx, target, o) => (await import("./commands/drill.js")).drillCommand(ctx, target ?? "latest", o)),
    );
  program
    .command("copy <target>")
    .description("copy complete backups (an id, 'latest' or 'all') byte for byte to a second repository (3-2-1)")
    .requiredOption("--to <dest>", "a config file (its repository, with its writer role) or a file:// URL")
    .addOption(retryLock())
    .action(bind(async (ctx, target, o) => (await import("./commands/copy.js")).copyCommand(ctx, target, o)));
  program
    .command("prune")
    .description("apply the retention policy (pruner role)")
    .option("--dry-run", "list what would go and why, delete nothing")
    .option("--force", "delete even more than retention.max_delete_share of a source's trusted backups in this run")
    .addOption(retryLock())
    .action(bind(async (ctx, o) => (await import("./commands/prune.js")).pruneCommand(ctx, o)));
  program
    .command("daemon")
    .description("run the jobs of a schedule file until SIGTERM/SIGINT")
    .option("--schedule <file>", "schedule file (default: schedules/default.yaml next to the config file)")
    .option("--once <job>", "run this one job of the schedule now and exit (for cron and Kubernetes)")
    .option("--grace <duration>", "on SIGTERM, how long the running job may take to finish before it is aborted", "60s")
    .option(
      "--abort-wait <duration>",
      "how long an aborted job (deadline, SIGTERM) may take to wind down before the daemon exits anyway",
      "30s",
    )
    .action(bind(async (ctx, o) => (await import("./commands/daemon.js")).daemonCommand(ctx, o)));
  program
    .command("ui")
    .description("serve the read-only status page from the repository (reader role) until Ctrl-C")
    .option("--listen <host:port>", "where to listen; other than 127.0.0.1 needs --token-file", "127.0.0.1:8080")
    .option("--token-file <file>", "the access token (HTTP Basic password or Bearer), 16+ characters")
    .action(bind(async (ctx, o) => (await import("./commands/ui.js")).uiCommand(ctx, o)));
  program
    .command("doctor")
    .description(
      "preflight: config, tools, store reachability, TLS, key-file modes, and what each role can and cannot do",
    )
    .action(bind(async (ctx) => (await import("./commands/doctor.js")).doctorCommand(ctx)));
  program
    .command("policy [role]")
    .description(
      "print ONE S3 bucket policy with every configured role's statements; with a role (writer, reader, pruner) only that role's part, to merge",
    )
    .option("--principal <arn>", PRINCIPAL_HELP, "arn:aws:iam::ACCOUNT-ID:user/strongbox-ROLE")
    .action(bind(async (ctx, role, o) => (await import("./commands/policy.js")).policyCommand(ctx, role, o)));
  const browse = () => import("./commands/browse.js");
  program
    .command("ls <id> [path]")
    .description("list a backup's files from its manifest (an id or 'latest'): type, mode, size, mtime, path")
    .option("--source <name>", "only this files source")
    .option("--long", "add each file's SHA-256")
    .option("--allow-unsigned", READ_UNSIGNED)
    .action(bind(async (ctx, id, path, o) => (await browse()).lsCommand(ctx, id, path, o)));
  program
    .command("find <pattern>")
    .description("every backup that holds a path matching the glob, with size and mtime (newest first)")
    .option("--source <name>", "only this files source")
    .option("--since <time>", "only backups taken at or after TIME (ISO 8601 with zone, or a date)")
    .option(
      "--until <time>",
      "only backups taken at or before TIME (ISO 8601 with zone, or a date = end of that day UTC)",
    )
    .action(bind(async (ctx, pattern, o) => (await browse()).findCommand(ctx, pattern, o)));
  program
    .command("diff <id1> <id2>")
    .description("added, removed, modified and type-changed paths between two backups (from their manifests)")
    .option("--source <name>", "only this files source")
    .option("--allow-unsigned", READ_UNSIGNED)
    .action(bind(async (ctx, a, b, o) => (await browse()).diffCommand(ctx, a, b, o)));
  program
    .command("dump <id> <source> <path>")
    .description("write one file of a backup to stdout, checked against the manifest's SHA-256 before its last bytes")
    .option("--allow-unsigned", READ_UNSIGNED)
    .action(bind(async (ctx, id, source, path, o) => (await browse()).dumpCommand(ctx, id, source, path, o)));
  const wal = program.command("wal").description("WAL archiving of a postgres-cluster source (docs/wal-archiving.md)");
  wal
    .command("push <path>")
    .description("archive_command: store one WAL file (%p) with the writer role; exit 0 once it is stored")
    .option("--system-id <id>", "the cluster's system identifier (default: from the segment, else ./global/pg_control)")
    .action(bind(async (ctx, path, o) => (await import("./commands/wal.js")).walPushCommand(ctx, path, o)));
  wal
    .command("push-worker <dir>", { hidden: true })
    .description("the asynchronous archiving worker that wal push starts (wal.async)")
    .option("--system-id <id>", "the cluster's system identifier")
    .action(bind(async (ctx, dir, o) => (await import("./commands/wal.js")).walPushWorkerCommand(ctx, dir, o)));
  wal
    .command("fetch <name> <dest>")
    .description("restore_command: write archived WAL file NAME (%f) to DEST (%p) atomically; exit 1 when not archived")
    .option("--system-id <id>", "the cluster's system identifier (default: from ./global/pg_control)")
    .action(
      bind(async (ctx, name, dest, o) => (await import("./commands/wal.js")).walFetchCommand(ctx, name, dest, o)),
    );
  program
    .command("pitr")
    .description("point-in-time recovery of a postgres-cluster source")
    .command("setup")
    .description("print the postgresql.conf settings (archive_command …) and the replication role SQL")
    .option("--source <name>", "the postgres-cluster source (needed when there are several)")
    .action(bind(async (ctx, o) => (await import("./commands/pitr-setup.js")).pitrSetupCommand(ctx, o)));
  return program;
}

function usageMessage(err: CommanderError): string {
  return err.message.replace(/^error: /, "").split("\n")[0];
}

/** The words of the command line that are not options (global options' values left out), up to `--`. */
function commandWords(argv: string[]): string[] {
  const words: string[] = [];
  const args = argv.slice(2);
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    if (args[i] === "--config" || /^-[a-zA-Z]*c$/.test(args[i]))
      i++; // -c FILE, -qc FILE
    else if (!args[i].startsWith("-")) words.push(args[i]);
  }
  return words;
}

/**
 * `strongbox [global options] wal fetch…`: PostgreSQL's restore_command. A misspelt subcommand
 * (`fetchh`) counts: when in doubt, a usage error there must stop recovery rather than end it.
 */
function isWalFetch(argv: string[]): boolean {
  const [a, b] = commandWords(argv);
  return a === "wal" && b !== undefined && b.startsWith("fetch");
}

/**
 * An option that takes one value, given twice (`--to-dir A --to-dir B`): commander keeps the last and
 * says nothing, and a flag that cannot be honoured must never be ignored. Repeatable ones (--source,
 * --include…: a list) are left alone, and so are unknown ones (commander names them).
 */
function repeatedOption(program: Command, argv: string[]): string | undefined {
  const options = commandChain(program, argv).flatMap((c) => c.options);
  const seen = new Set<string>();
  const args = argv.slice(2);
  for (let i = 0; i < args.length && args[i] !== "--"; i++) {
    const flag = args[i].startsWith("--") ? args[i].split("=")[0] : /^-[a-zA-Z]$/.test(args[i]) ? args[i] : "";
    const opt = flag ? options.find((o) => o.long === flag || o.short === flag) : undefined;
    if (!opt || !(opt.required || opt.optional) || Array.isArray(opt.defaultValue)) continue;
    const name = opt.long ?? opt.short!;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/** The program and the (sub)commands the command line names, outermost first. */
function commandChain(program: Command, argv: string[]): Command[] {
  const chain = [program];
  for (const w of commandWords(argv)) {
    const sub = chain.at(-1)!.commands.find((c) => c.name() === w);
    if (!sub) break;
    chain.push(sub);
  }
  return chain;
}

/** What a command that needs a subcommand says when it was given none. */
function missingCommand(program: Command, argv: string[]): string {
  const chain = commandChain(program, argv);
  const cmd = chain.at(-1)!;
  const path = chain.slice(1).map((c) => c.name());
  const hidden = (c: Command) => (c as unknown as { _hidden?: boolean })._hidden === true;
  const names = cmd.commands.filter((c) => !hidden(c)).map((c) => c.name());
  return `${path.length ? `${path.join(" ")}: ` : ""}missing command: one of ${names.join(", ")}`;
}

/** --json anywhere before `--`: known before commander parses, so a usage error is JSON too. */
function wantsJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).includes("--json");
}

/** The failure fields of the --json document. */
function jsonFailure(err: unknown, message: string, exitCode: number) {
  return { error: message, error_code: err instanceof StrongboxError ? err.code : "INTERNAL", exit_code: exitCode };
}

export async function main(argv: string[]): Promise<number> {
  jsonOutput.enabled = wantsJson(argv);
  let exitCode = 0;
  let ctx: CommandContext | undefined;
  const program = buildProgram(async (action, cmd, args) => {
    const { CommandContext } = await import("./commands/context.js");
    ctx = new CommandContext(cmd.optsWithGlobals() as GlobalOptions);
    await action(ctx, ...args);
  });
  try {
    const twice = repeatedOption(program, argv);
    if (twice)
      throw new CommanderError(EXIT.USAGE, "strongbox.repeated", `option '${twice}' given twice: give it once`);
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
      if (err.code === "commander.help" && err.exitCode === 0) return 0; // `strongbox help [command]`
      // commander.help: a command that takes a subcommand was given none (`strongbox`, `strongbox wal`).
      const message = err.code === "commander.help" ? missingCommand(program, argv) : usageMessage(err);
      // PostgreSQL reads restore_command's exit codes up to 125 as "not archived" and ends recovery
      // there: a mistake on wal fetch's command line must stop recovery (255), as its other failures do.
      const code = isWalFetch(argv) ? EXIT.RECOVERY_STOP : EXIT.USAGE;
      const suffix = code === EXIT.RECOVERY_STOP ? " (recovery stops here: exit 255)" : " (see strongbox --help)";
      jsonOutput.finish({
        error: message,
        error_code: code === EXIT.USAGE ? "USAGE" : "RECOVERY_STOP",
        exit_code: code,
      });
      process.stderr.write(`strongbox: ${oneLine(message)}${suffix}\n`);
      return code;
    }
    exitCode = exitCodeFor(err);
    const message = redact(describeError(err));
    // The one --json document: the command's result (if it gave one) with the error beside it.
    jsonOutput.finish(jsonFailure(err, message, exitCode));
    if (err instanceof ConfigError && err.issues.length > 1) {
      process.stderr.write(
        `strongbox: invalid config:\n${err.issues.map((i) => `  ${escapeControl(redact(i))}`).join("\n")}\n`,
      );
    } else {
      process.stderr.write(
        `strongbox: ${err instanceof ConfigError ? "invalid config" : "error"}: ${oneLine(message)}\n`,
      );
      if (ctx?.options.verbose && !(err instanceof StrongboxError) && err instanceof Error && err.stack)
        process.stderr.write(redact(err.stack) + "\n");
    }
    return exitCode;
  }
  jsonOutput.finish();
  return exitCode;
}

/** Runs the command line this process was started with: the program's entry point. */
function start(): void {
  // A reader of stdout that went away (`strongbox ls | head`): stop at once and quietly, as a shell
  // tool that SIGPIPE ends does (exit 141), not with Node's unhandled-error stack trace, and before
  // the command's own write fails and prints a line of its own ('exit' handlers release the lock).
  // Any other failure to write stdout is one line and exit 1.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(141);
    process.stderr.write(`strongbox: error: cannot write to stdout: ${oneLine(describeError(err))}\n`);
    process.exit(EXIT.FAILED);
  });
  const run = main(process.argv);
  guardUnsettled(run, (line) => {
    jsonOutput.finish({
      error: line.replace(/^strongbox: /, "").trim(),
      error_code: "INTERNAL",
      exit_code: EXIT.FAILED,
    });
    process.stderr.write(line);
  });
  run.then(
    (code) => {
      process.exitCode = code;
      // Stopped by a signal: exit now that the output is written; a call the stop abandoned (a store
      // that never answers) must not keep the process alive.
      if (code === 130 || code === 143) void import("./hard-exit.js").then((m) => m.hardExit(code));
    },
    (err) => {
      const message = `internal error: ${redact(describeError(err))}`;
      jsonOutput.finish(jsonFailure(err, message, EXIT.FAILED));
      process.stderr.write(`strongbox: ${message}\n`);
      process.exitCode = EXIT.FAILED;
    },
  );
}

// A test seam: test/helpers/run-in-process.ts sets this symbol before importing this module, to call
// main() itself with its own arguments, environment and output. A process started any other way runs.
if (!(globalThis as { [key: symbol]: unknown })[Symbol.for("strongbox.in-process")]) start();
