import { readFileSync } from "node:fs";
import { parseDocument, type YAMLError } from "yaml";
import type { ZodIssue } from "zod";
import { ConfigError } from "../errors.js";
import { registerSecret } from "../secrets.js";
import { deferUnresolved, isLazyPath, PLACEHOLDERS, type Path, type Unresolved } from "./deferred.js";
import { exposedSecretFile } from "./local-paths.js";
import { configSchema, type Config } from "./schema.js";

/** Keys whose value may instead come from a file named by `<key>_file` (README, "Config reference"). */
const FILE_CAPABLE = new Set(["access_key_id", "secret_access_key", "url", "postgres_url"]);
/** Values registered for redaction wherever strongbox prints. */
const SECRET_KEYS = new Set(["access_key_id", "secret_access_key"]);

export function formatPath(path: Path): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out || "(top level)";
}

function formatIssue(issue: ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `${formatPath([...issue.path, k])}: unknown key`);
  }
  if (issue.code === "invalid_type" && issue.received === "undefined") {
    return [`${formatPath(issue.path)}: is required`];
  }
  if (issue.code === "invalid_union" && issue.unionErrors.length) {
    return issue.unionErrors[0].issues.flatMap(formatIssue);
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/** Where resolve() reports: problems that stop the load, and unresolved values that may wait for the command that uses them (deferred.ts). */
interface Problems {
  errors: string[];
  warnings: string[];
  deferred: Unresolved[];
  /** Each ${VAR} the config names, with where it is named. */
  referenced: Map<string, Path[]>;
  /** Values that could not be resolved (already an error): the schema's complaints about them are not repeated. */
  failed: string[];
}

function unresolved(p: Problems, at: Path, key: Path, problem: string): void {
  if (isLazyPath(at)) p.deferred.push({ at, key: formatPath(key), problem });
  else {
    p.errors.push(problem);
    p.failed.push(formatPath(at));
  }
}

/** Whether a schema issue is about a value already reported as unresolved ("url must not be empty" after "DB_URL is not set"). */
function followsFrom(p: Problems, path: Path): boolean {
  const at = formatPath(path);
  return p.failed.some((f) => at === f || at.startsWith(`${f}.`) || at.startsWith(`${f}[`));
}

/** Replaces ${VAR} from env in every string, and resolves <key>_file secrets; collects every problem. */
function resolve(value: unknown, path: Path, env: NodeJS.ProcessEnv, p: Problems): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
      if (!name) return "$";
      p.referenced.set(name, [...(p.referenced.get(name) ?? []), path]);
      const v = env[name];
      if (v === undefined) {
        unresolved(p, path, path, `${formatPath(path)}: environment variable ${name} is not set`);
        return "";
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolve(v, [...path, i], env, p));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolve(v, [...path, k], env, p);
    for (const k of Object.keys(out)) {
      const base = k.endsWith("_file") ? k.slice(0, -5) : "";
      if (!FILE_CAPABLE.has(base)) continue;
      const filePath = out[k];
      delete out[k];
      if (base in out) {
        p.errors.push(`${formatPath([...path, k])}: give either ${base} or ${k}, not both`);
        continue;
      }
      // The file's name uses a variable that is not set: the value it fills waits with it.
      const pending = p.deferred.filter(
        (d) => d.at.length === path.length + 1 && d.at[path.length] === k && path.every((x, i) => d.at[i] === x),
      );
      if (pending.length) {
        for (const d of pending) d.at = [...path, base];
        out[base] = "";
        continue;
      }
      if (typeof filePath !== "string" || !filePath) {
        p.errors.push(`${formatPath([...path, k])}: must be a file path`);
        p.failed.push(formatPath([...path, base]));
        continue;
      }
      try {
        out[base] = readFileSync(filePath, "utf8").replace(/\r?\n$/, "");
        const exposed = exposedSecretFile(filePath);
        if (exposed) p.warnings.push(`${formatPath([...path, k])}: ${exposed}`);
      } catch (err) {
        out[base] = "";
        unresolved(
          p,
          [...path, base],
          [...path, k],
          `${formatPath([...path, k])}: cannot read ${filePath} (${(err as NodeJS.ErrnoException).code ?? "error"})`,
        );
      }
    }
    for (const k of SECRET_KEYS) if (typeof out[k] === "string") registerSecret(out[k] as string);
    return out;
  }
  return value;
}

function setAt(root: unknown, at: Path, value: string): void {
  let parent = root as Record<string | number, unknown>;
  for (const key of at.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  parent[at[at.length - 1]] = value;
}

/**
 * Validates the resolved config with a stand-in for each unresolved value, trying the next
 * stand-in where the schema refuses one; an unresolved value no stand-in fits becomes an error now.
 */
function validate(resolved: unknown, p: Problems): ReturnType<typeof configSchema.safeParse> {
  const tried = new Map<Unresolved, number>(p.deferred.map((d) => [d, 0]));
  for (;;) {
    for (const [d, i] of tried) setAt(resolved, d.at, PLACEHOLDERS[i]);
    const result = configSchema.safeParse(resolved);
    const refused = [...tried.keys()].filter((d) =>
      result.error?.issues.some((issue) => d.at.every((x, i) => issue.path[i] === x)),
    );
    if (!refused.length) return result;
    for (const d of refused) {
      const next = tried.get(d)! + 1;
      if (next < PLACEHOLDERS.length) tried.set(d, next);
      else {
        tried.delete(d);
        p.deferred.splice(p.deferred.indexOf(d), 1);
        p.errors.push(d.problem);
        setAt(resolved, d.at, "");
      }
    }
  }
}

/**
 * A YAML file's value, or a ConfigError naming the file and the line. A warning is an error too (an
 * unknown tag such as `!!js/function` would otherwise become a string, after a warning printed by the
 * library), and so is an alias expanded too often (a "billion laughs" file).
 */
export function parseYamlText(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const problem: YAMLError | undefined = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const where = problem.linePos ? ` at line ${problem.linePos[0].line}, column ${problem.linePos[0].col}` : "";
    const line = problem.linePos ? (text.split("\n")[problem.linePos[0].line - 1] ?? "") : "";
    // `{ key: ${VAR} }`: YAML reads the `{` of an unquoted reference as a nested flow mapping.
    const hint = /[{[][^"'\n]*:\s*\$\{/.test(line) ? ' (inside { … } or [ … ] quote ${VAR} references: "${VAR}")' : "";
    const what = problem.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ConfigError([`${file}: invalid YAML${where}: ${what}${hint}`]);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`${file}: invalid YAML: ${(err as Error).message.split("\n")[0]}`]);
  }
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, file = "config"): Config {
  const raw = parseYamlText(text, file);
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError([`${file}: must be a YAML mapping (version, repository, encryption, sources, …)`]);
  const p: Problems = { errors: [], warnings: [], deferred: [], referenced: new Map(), failed: [] };
  const { errors, warnings } = p;
  const resolved = resolve(raw, [], env, p);
  const result = validate(resolved, p);
  if (!result.success) errors.push(...result.error.issues.filter((i) => !followsFrom(p, i.path)).flatMap(formatIssue));
  if (errors.length) throw new ConfigError([...new Set(errors)]);
  const file_ = result.data!.encryption.identity_file;
  const exposed = file_ ? exposedSecretFile(file_) : undefined;
  if (exposed) warnings.push(`encryption.identity_file: ${exposed}`);
  const signingKey = result.data!.signing?.key_file;
  const keyExposed = signingKey ? exposedSecretFile(signingKey) : undefined;
  if (keyExposed) warnings.push(`signing.key_file: ${keyExposed}`);
  const tokenFile = result.data!.daemon?.token_file;
  const tokenExposed = tokenFile ? exposedSecretFile(tokenFile) : undefined;
  if (tokenExposed) warnings.push(`daemon.token_file: ${tokenExposed}`);
  WARNINGS.set(result.data!, warnings);
  REFERENCED.set(result.data!, p.referenced);
  deferUnresolved(result.data!, p.deferred, file);
  return result.data!;
}

const WARNINGS = new WeakMap<Config, string[]>();
const REFERENCED = new WeakMap<Config, Map<string, Path[]>>();

/**
 * The environment variables the config names (its ${VAR} references): what a child running strongbox
 * with it needs. `readerOnly`: those a reader's run needs (`wal fetch`, the restore_command of a
 * recovery): not the secrets named only where a reader never looks (a source's URL, the drill's
 * postgres_url, the writer's or pruner's keys), which stay unresolved there without stopping it.
 */
export function configEnvNames(cfg: Config, o: { readerOnly?: boolean } = {}): string[] {
  const all = REFERENCED.get(cfg) ?? new Map<string, Path[]>();
  // Withheld: a secret in a place the reader never resolves. A source's name or path is kept: loading
  // the config compares them (two sources named "${SITE}-…", a drill check naming one).
  const secret = (at: Path) => /^(url|postgres_url|access_key_id|secret_access_key)(_file)?$/.test(String(at.at(-1)));
  const needed = (at: Path) => !o.readerOnly || !isLazyPath(at) || at[3] === "reader" || !secret(at);
  return [...all].filter(([, paths]) => paths.some(needed)).map(([name]) => name);
}

/** What loading found worth a warning (secret files others may read), for the commands to log. */
export function configWarnings(cfg: Config): string[] {
  return WARNINGS.get(cfg) ?? [];
}

export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.STRONGBOX_CONFIG ?? "strongbox.yaml";
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const text = readYamlText(
    file,
    `config file not found: ${file} (use -c FILE or STRONGBOX_CONFIG, or run 'strongbox init')`,
    "config file",
  );
  return parseConfig(text, env, file);
}

/** A config or schedule file's text; a ConfigError (exit 2) if it cannot be read: `notFound` if it is missing. */
export function readYamlText(file: string, notFound: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([code === "ENOENT" ? notFound : `cannot read ${what} ${file}: ${code}`]);
  }
}
