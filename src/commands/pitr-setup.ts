import { confString } from "../sources/postgres-cluster/recovery.js";
import { isAbsolute, resolve } from "node:path";
import type { Config, PostgresClusterSourceConfig } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { parsePgUrl } from "../sources/postgres/url.js";
import { percentLiteral } from "./cluster-restore.js";
import type { CommandContext } from "./context.js";

/** The role the source's url names; an unresolved or user-less url: a name to choose. */
function replicationRole(s: PostgresClusterSourceConfig): string {
  try {
    const user = decodeURIComponent(parsePgUrl(s.url).username);
    if (/^[a-z_][a-z0-9_$]{0,62}$/i.test(user)) return user;
  } catch {
    // ${VAR} not set here, or url_file unreadable: the settings do not need it.
  }
  return "strongbox_replication";
}

function clusterSource(config: Config, name?: string): PostgresClusterSourceConfig {
  const clusters = config.sources.filter((s): s is PostgresClusterSourceConfig => s.type === "postgres-cluster");
  const chosen = name ? clusters.filter((s) => s.name === name) : clusters;
  if (chosen.length === 1) return chosen[0];
  if (name) throw new StrongboxError("USAGE", `--source ${name}: no postgres-cluster source of that name`);
  throw new StrongboxError(
    "USAGE",
    clusters.length
      ? `several postgres-cluster sources (${clusters.map((s) => s.name).join(", ")}): pick one with --source`
      : "no postgres-cluster source in the config: add one (type: postgres-cluster) first",
  );
}

/** A word for the shell PostgreSQL runs archive_command with. */
const shQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The settings and SQL that make a cluster archive its WAL with `wal push` (doctor checks the same). */
export function pitrSettings(config: Config, configFile: string, bin: string, name?: string) {
  const s = clusterSource(config, name);
  const cfg = isAbsolute(configFile) ? configFile : resolve(configFile);
  const cmd = (sub: string) => `${percentLiteral(shQuote(bin))} -c ${percentLiteral(shQuote(cfg))} ${sub}`;
  const role = replicationRole(s);
  return {
    source: s.name,
    settings: {
      wal_level: "replica",
      archive_mode: "on",
      archive_command: cmd("wal push %p"),
      archive_timeout: "60",
    },
    restore_command: cmd("wal fetch %f %p"),
    role,
    sql: `CREATE ROLE ${role} WITH LOGIN REPLICATION PASSWORD 'choose-a-password';`,
    pg_hba: `host replication ${role} <backup host address>/32 scram-sha-256`,
  };
}

export async function pitrSetupCommand(ctx: CommandContext, o: { source?: string }): Promise<void> {
  const bin = resolve(process.argv[1] ?? "strongbox");
  const p = pitrSettings(ctx.config(), ctx.configFile, bin, o.source);
  const conf = Object.entries(p.settings)
    .map(([k, v]) => `${k} = ${k === "archive_command" ? confString(v) : v}`)
    .join("\n");
  ctx.print(
    p,
    [
      `# postgresql.conf of the cluster of source ${p.source} (archive_mode and wal_level need a restart):`,
      conf,
      "",
      "# The replication role the source's url names (pg_basebackup and doctor), as a superuser:",
      p.sql,
      "# pg_hba.conf:",
      p.pg_hba,
      "",
      "# A restore writes this itself; for a restore by hand:",
      `# restore_command = ${confString(p.restore_command)}`,
    ].join("\n"),
  );
}
