import { readFileSync } from "node:fs";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { ZodIssue } from "zod";
import { ConfigError } from "../errors.js";
import { registerSecret } from "../secrets.js";
import { exposedSecretFile } from "./local-paths.js";
import { configSchema, type Config } from "./schema.js";

/** Keys whose value may instead come from a file named by `<key>_file` (SPEC §2). */
const FILE_CAPABLE = new Set(["access_key_id", "secret_access_key", "url", "postgres_url"]);
/** Values registered for redaction wherever strongbox prints. */
const SECRET_KEYS = new Set(["access_key_id", "secret_access_key"]);

type Path = (string | number)[];

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

/** Replaces ${VAR} from env in every string, and resolves <key>_file secrets; collects every problem. */
function resolve(value: unknown, path: Path, env: NodeJS.ProcessEnv, errors: string[], warnings: string[]): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, name: string | undefined) => {
      if (!name) return "$";
      const v = env[name];
      if (v === undefined) {
        errors.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return "";
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolve(v, [...path, i], env, errors, warnings));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolve(v, [...path, k], env, errors, warnings);
    for (const k of Object.keys(out)) {
      const base = k.endsWith("_file") ? k.slice(0, -5) : "";
      if (!FILE_CAPABLE.has(base)) continue;
      const filePath = out[k];
      delete out[k];
      if (base in out) {
        errors.push(`${formatPath([...path, k])}: give either ${base} or ${k}, not both`);
        continue;
      }
      if (typeof filePath !== "string" || !filePath) {
        errors.push(`${formatPath([...path, k])}: must be a file path`);
        continue;
      }
      try {
        out[base] = readFileSync(filePath, "utf8").replace(/\r?\n$/, "");
        const exposed = exposedSecretFile(filePath);
        if (exposed) warnings.push(`${formatPath([...path, k])}: ${exposed}`);
      } catch (err) {
        errors.push(`${formatPath([...path, k])}: cannot read ${filePath} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
    for (const k of SECRET_KEYS) if (typeof out[k] === "string") registerSecret(out[k] as string);
    return out;
  }
  return value;
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, file = "config"): Config {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const where = err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
      const line = err.linePos ? (text.split("\n")[err.linePos[0].line - 1] ?? "") : "";
      // `{ key: ${VAR} }`: YAML reads the `{` of an unquoted reference as a nested flow mapping.
      const hint = /[{[][^"'\n]*:\s*\$\{/.test(line) ? ' (inside { … } or [ … ] quote ${VAR} references: "${VAR}")' : "";
      throw new ConfigError([`${file}: invalid YAML${where}: ${err.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}${hint}`]);
    }
    throw err;
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError([`${file}: must be a YAML mapping (version, repository, encryption, sources, …)`]);
  const errors: string[] = [];
  const warnings: string[] = [];
  const resolved = resolve(raw, [], env, errors, warnings);
  const result = configSchema.safeParse(resolved);
  if (!result.success) errors.push(...result.error.issues.flatMap(formatIssue));
  if (errors.length) throw new ConfigError([...new Set(errors)]);
  const file_ = result.data!.encryption.identity_file;
  const exposed = file_ ? exposedSecretFile(file_) : undefined;
  if (exposed) warnings.push(`encryption.identity_file: ${exposed}`);
  const signingKey = result.data!.signing?.key_file;
  const keyExposed = signingKey ? exposedSecretFile(signingKey) : undefined;
  if (keyExposed) warnings.push(`signing.key_file: ${keyExposed}`);
  WARNINGS.set(result.data!, warnings);
  return result.data!;
}

const WARNINGS = new WeakMap<Config, string[]>();

/** What loading found worth a warning (secret files others may read), for the commands to log. */
export function configWarnings(cfg: Config): string[] {
  return WARNINGS.get(cfg) ?? [];
}

export function configPath(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return option ?? env.STRONGBOX_CONFIG ?? "strongbox.yaml";
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([code === "ENOENT" ? `config file not found: ${file} (use -c FILE or STRONGBOX_CONFIG, or run 'strongbox init')` : `cannot read config file ${file}: ${code}`]);
  }
  return parseConfig(text, env, file);
}
