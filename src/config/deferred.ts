// Config values resolved lazily (issue 22, item 15). A `${VAR}` that is not set, or a `<key>_file`
// that cannot be read, under a part of the config that only some commands use (one role's S3
// credentials, one source, the drill section) does not stop the commands that never touch it:
// `list` on a host without DATABASE_URL works. The value is replaced by a getter that throws the
// one-line CONFIG error (exit 2) naming the variable, the key and the config file, so whatever
// reads it fails as it would have at load; commands also ask for the parts they use up front
// (requireResolved), before any work starts. `config check` and `doctor` list every one.
import { ConfigError } from "../errors.js";
import type { Config } from "./schema.js";

export type Path = (string | number)[];

export interface Unresolved {
  /** Where the value lives in the loaded config (for `<key>_file`: the key it fills). */
  at: Path;
  /** The config path of the key the problem is with, e.g. `sources[1].url` or `repository.s3.credentials.writer.secret_access_key_file`. */
  key: string;
  /** The problem, starting with the config path of the key, e.g. `sources[1].url: environment variable DATABASE_URL is not set`. */
  problem: string;
}

/** Parts of the config whose values may stay unresolved until a command uses them. */
export function isLazyPath(path: Path): boolean {
  const [a, b, c, d] = path;
  if (a === "sources") return typeof b === "number" && path.length > 2;
  if (a === "drill") return path.length > 1;
  return a === "repository" && b === "s3" && c === "credentials" && typeof d === "string" && path.length > 4;
}

/** Values that stand in for unresolved ones while the schema checks the rest (each is tried until one fits). */
export const PLACEHOLDERS = ["unset", "/unset", "postgres://unset.invalid/unset"];

const UNRESOLVED = new WeakMap<Config, { list: Unresolved[]; file: string }>();

const under = (path: Path, prefix: Path) => prefix.every((p, i) => path[i] === p);

/** A source's name without reading an unresolved one: `sources[i]` then. */
export function sourceLabel(cfg: Config, i: number): string {
  const name = Object.getOwnPropertyDescriptor(cfg.sources[i], "name")?.value;
  return typeof name === "string" ? name : `sources[${i}]`;
}

/** Which commands use the value at `at`, for the messages (config check, doctor, the error itself). */
export function neededBy(cfg: Config, at: Path): string {
  const [a, b, , d] = at;
  if (a === "sources") {
    const what =
      Object.getOwnPropertyDescriptor(cfg.sources[b as number], "type")?.value === "postgres"
        ? "backup and drill"
        : "backup";
    return `${what} of source ${sourceLabel(cfg, b as number)}`;
  }
  if (a === "drill") return "drill";
  if (d === "writer") return "backup and copy (writer role)";
  if (d === "pruner") return "prune (pruner role)";
  return "list, verify, restore, drill and copy (reader role)";
}

function message(cfg: Config, u: Unresolved, file: string): string {
  return `${file}: ${u.problem} (needed by ${neededBy(cfg, u.at)})`;
}

/** Replaces each unresolved value of the parsed config by a getter that throws its CONFIG error. */
export function deferUnresolved(cfg: Config, list: Unresolved[], file: string): void {
  UNRESOLVED.set(cfg, { list, file });
  for (const u of list) {
    let parent: Record<string | number, unknown> = cfg as unknown as Record<string, unknown>;
    for (const key of u.at.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const text = message(cfg, u, file);
    Object.defineProperty(parent, u.at[u.at.length - 1], {
      enumerable: true,
      configurable: true,
      get() {
        throw new ConfigError([text]);
      },
    });
  }
}

/** Every unresolved value with the commands that need it (config check, doctor). */
export function unresolvedValues(cfg: Config): { path: string; problem: string; needed_by: string }[] {
  const u = UNRESOLVED.get(cfg);
  return (u?.list ?? []).map((x) => ({ path: x.key, problem: x.problem, needed_by: neededBy(cfg, x.at) }));
}

/** The unresolved values under one part of the config, each as its one-line message. */
export function unresolvedUnder(cfg: Config, prefixes: Path[]): string[] {
  const u = UNRESOLVED.get(cfg);
  return (u?.list ?? []).filter((x) => prefixes.some((p) => under(x.at, p))).map((x) => message(cfg, x, u!.file));
}

/** Throws the CONFIG error (exit 2) for every unresolved value under these parts of the config, before a command starts work. */
export function requireResolved(cfg: Config, prefixes: Path[]): void {
  const hits = unresolvedUnder(cfg, prefixes);
  if (hits.length) throw new ConfigError(hits);
}
