// Every key of the config, read from its JSON Schema (json-schema.ts, itself generated from the zod
// schema in schema.ts): the one source of the README's config reference (reference.ts) and of the
// comments in `strongbox init`'s sample (sample.ts).
import { configJsonSchema } from "./json-schema.js";

type Node = {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  anyOf?: Node[];
  allOf?: { oneOf?: { required?: string[] }[] }[];
};

export interface ConfigField {
  /** Dotted path; list items as `[]`, e.g. `sources[].path`, `repository.s3.timeouts.idle`. */
  path: string;
  /** The reference section it is listed in: a top-level key, `sources (type: files)`, or "top level". */
  section: string;
  type: string;
  /** "required", "required (or `url_file`)", a default value as YAML, or "" (optional, no default). */
  default: string;
  description: string;
  /** An object or a list of objects: its keys are fields of their own. */
  container: boolean;
}

function typeOf(n: Node): string {
  if (n.const !== undefined) return JSON.stringify(n.const);
  if (n.enum) return n.enum.map((v) => String(v)).join(" | ");
  if (n.anyOf) return n.anyOf.map((v) => v.properties?.type?.const).join(" or ");
  if (n.type === "array") return `list of ${n.items?.properties || n.items?.anyOf ? "entries" : typeOf(n.items ?? {})}`;
  return n.type ?? "any";
}

function defaultOf(parent: Node, key: string, n: Node): string {
  if (parent.required?.includes(key)) return "required";
  // `<key>` or `<key>_file` (json-schema.ts): { oneOf: [{ required: [key] }, { required: [key_file] }] }.
  const pair = parent.allOf?.map((a) => (a.oneOf ?? []).map((o) => o.required?.[0])).find((alts) => alts.includes(key));
  if (pair) return `required (or \`${pair.find((k) => k !== key)}\`)`;
  if (n.default === undefined || (n.type === "object" && n.properties)) return "";
  return typeof n.default === "string" ? n.default : JSON.stringify(n.default);
}

function walk(parent: Node, prefix: string, section: string | undefined, out: ConfigField[]): void {
  for (const [key, n] of Object.entries(parent.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const item = n.type === "array" ? n.items : undefined;
    const container = Boolean(n.properties || item?.properties || item?.anyOf);
    const here = section ?? (container ? key : "top level");
    out.push({
      path,
      section: here,
      type: typeOf(n),
      default: defaultOf(parent, key, n),
      description: n.description ?? "",
      container,
    });
    if (n.properties) walk(n, path, here, out);
    if (item?.properties) walk(item, `${path}[]`, here, out);
    for (const variant of item?.anyOf ?? [])
      walk(variant, `${path}[]`, `${here} (type: ${variant.properties?.type?.const})`, out);
  }
}

/** Every key a user can set, in schema order, each with its section, type, default and description. */
export function configFields(): ConfigField[] {
  if (!fields) walk(configJsonSchema() as Node, "", undefined, (fields = []));
  return fields;
}
let fields: ConfigField[] | undefined;

/**
 * The description of the key at a dotted path (`sources[].url`), for comments in the sample config;
 * `variant` picks the member of a list of several kinds by its `type` (`sources[]`: files or postgres).
 */
export function describeField(path: string, variant?: string): string {
  const all = configFields().filter((f) => f.path === path);
  const hit = all.find((f) => f.section.endsWith(`(type: ${variant})`)) ?? all[0];
  if (!hit) throw new Error(`no config key ${path}`);
  return hit.description;
}
