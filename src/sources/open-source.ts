import type { Config, SourceConfig } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { FilesSource } from "./files.js";
import { PostgresSource } from "./postgres/source.js";
import { ClusterSource } from "./postgres-cluster/source.js";
import type { Source } from "./source.js";

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
