import { zodToJsonSchema } from "zod-to-json-schema";
import { configSchema } from "./schema.js";
import { VERSION } from "../version.js";

/**
 * The config's JSON Schema, generated from the same zod schema that validates it, for editors
 * (yaml-language-server) and CI linters. Cross-field rules (duplicate names, a drill check's
 * source) stay with `config check`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = zodToJsonSchema(configSchema, {
    target: "jsonSchema7",
    $refStrategy: "none",
    effectStrategy: "input",
  }) as JsonObject;
  allowFileVariants(schema);
  return {
    ...schema,
    $id: "https://strongbox.invalid/schema/strongbox.yaml.json",
    title: `strongbox.yaml (strongbox ${VERSION})`,
    description: "strongbox config file: repository, encryption, sources, retention, drill, notify",
  };
}

type JsonObject = { [k: string]: unknown; properties?: Record<string, JsonObject>; required?: string[] };

/** Secrets may come from `<key>_file` instead (resolved before validation): the schema must say so too. */
const FILE_CAPABLE = ["access_key_id", "secret_access_key", "url", "postgres_url"];

function allowFileVariants(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(allowFileVariants);
  if (!node || typeof node !== "object") return;
  const o = node as JsonObject;
  for (const v of Object.values(o)) allowFileVariants(v);
  if (!o.properties) return;
  const either: JsonObject[] = [];
  for (const key of FILE_CAPABLE) {
    if (!o.properties[key]) continue;
    o.properties[`${key}_file`] = {
      type: "string",
      minLength: 1,
      description: `Read ${key} from this file (trailing newline dropped).`,
    };
    if (o.required?.includes(key)) {
      o.required = o.required.filter((k) => k !== key);
      either.push({ oneOf: [{ required: [key] }, { required: [`${key}_file`] }] });
    }
  }
  if (either.length) o.allOf = [...((o.allOf as JsonObject[]) ?? []), ...either];
}
