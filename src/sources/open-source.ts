import type { Config, SourceConfig } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { FilesSource } from "./files.js";
import { PostgresSource } from "./postgres/source.js";
import { ClusterSource } from "./postgres-cluster/source.js";
import type { Source, StoredSourceSettings } from "./source.js";

export function openSource(cfg: SourceConfig): Source {
  switch (cfg.type) {
    case "files":
      return new FilesSource(cfg);
    case "postgres":
      return new PostgresSource(cfg);
    case "postgres-cluster":
      return new ClusterSource(cfg);
  }
}

/**
 * A source to restore or verify a stored one. Its type is the repository's (the backup's manifest),
 * never the config's: a config that no longer has the source, or has another type under its name,
 * still reads what was stored. Of the config only the host's settings are taken (pg_bin_dir), and only
 * from a configured source of the same type.
 */
export function storedSource(name: string, type: Source["type"], configured?: SourceConfig): Source {
  const settings: StoredSourceSettings =
    (configured?.type === "postgres" || configured?.type === "postgres-cluster") && configured.type === type
      ? { name, pg_bin_dir: configured.pg_bin_dir }
      : { name };
  switch (type) {
    case "files":
      return new FilesSource(settings);
    case "postgres":
      return new PostgresSource(settings);
    case "postgres-cluster":
      return new ClusterSource(settings);
  }
}

/** The configured sources, or the named subset; an unknown name is a usage error. */
export function selectSources(cfg: Config, names: string[]): SourceConfig[] {
  if (names.length === 0) return cfg.sources;
  const unknown = names.filter((n) => !cfg.sources.some((s) => s.name === n));
  if (unknown.length) {
    throw new StrongboxError(
      "USAGE",
      `--source ${unknown.join(", ")}: no such source (configured: ${cfg.sources.map((s) => s.name).join(", ")})`,
    );
  }
  return cfg.sources.filter((s) => names.includes(s.name));
}
