// The commented sample config that `strongbox init` writes, generated from the schema: every key
// gets its description (fields.ts) as a comment above it, and the optional settings are written
// commented out ("# " before each line). Removing that "# " from every commented-out block still
// gives a config that `strongbox config check` accepts (test/e2e/init-sample.test.ts).
import { stringify } from "yaml";
import { describeField } from "./fields.js";

/** A value written commented out: an optional setting, shown with a working example value. */
class Off {
  constructor(readonly value: unknown) {}
}
const off = (value: unknown) => new Off(value);

type Mapping = Record<string, unknown>;
const WIDTH = 100;

/** One scalar or list of scalars as YAML; timestamps quoted (the schema wants them as strings). */
function scalar(v: unknown): string {
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return JSON.stringify(v);
  const flow = Array.isArray(v);
  const text = stringify(v, { flow, lineWidth: 0 }).trimEnd();
  return flow ? text.replace(/^\[ (.*) \]$/, "[$1]") : text;
}

/** The description as comment lines of at most WIDTH columns. */
function comment(indent: string, text: string): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && indent.length + 2 + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].map((l) => `${indent}# ${l}`);
}

/** Comments out lines written at `indent`: "# " after the block's own indentation. */
const disable = (lines: string[], indent: string) => lines.map((l) => `${indent}# ${l.slice(indent.length)}`);

const isMapping = (v: unknown): v is Mapping =>
  Boolean(v) && typeof v === "object" && !Array.isArray(v) && !(v instanceof Off);
const unwrap = (v: unknown) => (v instanceof Off ? v.value : v);

/** A mapping under config path `at` (e.g. `sources[]`), each key preceded by its description. */
function mapping(value: Mapping, at: string, indent: string, enableAll: boolean): string[] {
  const out: string[] = [];
  const variant = typeof value.type === "string" ? value.type : undefined;
  for (const [key, raw] of Object.entries(value)) {
    const path = at ? `${at}.${key}` : key;
    const v = unwrap(raw);
    let lines = comment(indent, describeField(path, variant));
    if (isMapping(v)) lines.push(`${indent}${key}:`, ...mapping(v, path, `${indent}  `, enableAll));
    else if (Array.isArray(v) && v.some((x) => isMapping(unwrap(x))))
      lines.push(`${indent}${key}:`, ...list(v, `${path}[]`, `${indent}  `, enableAll));
    else lines.push(`${indent}${key}: ${scalar(v)}`);
    if (raw instanceof Off && !enableAll) lines = disable(lines, indent);
    out.push(...lines);
  }
  return out;
}

/** A list of mappings: the first key's description goes above the "- ". */
function list(items: unknown[], at: string, indent: string, enableAll: boolean): string[] {
  return items.flatMap((raw) => {
    const lines = mapping(unwrap(raw) as Mapping, at, `${indent}  `, enableAll);
    const first = lines.findIndex((l) => !l.trimStart().startsWith("#"));
    const item = [
      ...lines.slice(0, first).map((l) => l.slice(2)),
      `${indent}- ${lines[first].trimStart()}`,
      ...lines.slice(first + 1),
    ];
    return raw instanceof Off && !enableAll ? disable(item, indent) : item;
  });
}

export interface SampleInput {
  recipient: string;
  identityFile: string;
  repository: string;
  files: { name: string; path: string }[];
  signing?: { keyFile: string; publicKey: string };
}

/** The settings of the sample: init's own values, and a working example for each optional one. */
function sampleValues(o: SampleInput): Mapping {
  const role = (name: string) => ({
    access_key_id: `\${BACKUP_${name}_KEY_ID}`,
    secret_access_key: `\${BACKUP_${name}_SECRET}`,
  });
  return {
    version: 1,
    repository: {
      url: o.repository,
      s3: off({
        endpoint: "https://s3.eu-central-1.amazonaws.com",
        region: "eu-central-1",
        force_path_style: false,
        credentials: { writer: role("WRITER"), reader: role("READER"), pruner: role("PRUNER") },
        object_lock_days: 0,
        part_size_mb: 128,
        timeouts: { connect: "10s", idle: "60s", request: "15m" },
        retry: { attempts: 9, base_delay: "0.5s", max_delay: "20s" },
        verify_after_write: false,
      }),
    },
    encryption: {
      recipients: [o.recipient],
      identity_file: o.identityFile,
      identity_passphrase_file: off("/run/secrets/identity-passphrase"),
    },
    ...(o.signing && {
      signing: {
        key_file: o.signing.keyFile,
        trusted: [
          {
            key: o.signing.publicKey,
            valid_after: off("2026-01-01T00:00:00Z"),
            valid_before: off("2027-01-01T00:00:00Z"),
          },
        ],
        allow_unsigned_before: off("2026-12-01T00:00:00Z"),
      },
    }),
    compression: "zstd",
    sources: [
      ...o.files.map((f) => ({
        name: f.name,
        type: "files",
        path: f.path,
        exclude: ["**/*.tmp"],
        one_file_system: off(false),
        on_unreadable: off("fail"),
      })),
      off({ name: "db", type: "postgres", url: "${DATABASE_URL}", globals: false }),
    ],
    on_unreadable: off("fail"),
    retention: off({ keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12, timezone: "UTC" }),
    drill: off({ postgres_url: "${DRILL_ADMIN_URL}", max_backup_age: "26h" }),
    notify: off([{ type: "healthchecks", url: "${HEALTHCHECKS_URL}" }]),
    audit_log: off("/var/log/strongbox/audit.jsonl"),
    state_dir: off("/var/lib/strongbox"),
    daemon: off({ listen: "127.0.0.1:9465" }),
  };
}

const HEADER = `# strongbox configuration, written by \`strongbox init\`. Every key: README.md, "Config reference".
# Values may use \${ENV_VAR}; a secret may instead be read from a file with <key>_file.
# Optional settings are commented out ("# "): remove the "# " of a block to use it.
`;

/**
 * The commented sample config that `strongbox init` writes; it validates as written. With
 * `enableAll`, the same text with every commented-out setting switched on (for the tests).
 */
export function sampleConfig(o: SampleInput, opts: { enableAll?: boolean } = {}): string {
  const values = sampleValues(o);
  const blocks = Object.keys(values).map((key) =>
    mapping({ [key]: values[key] }, "", "", Boolean(opts.enableAll)).join("\n"),
  );
  return `${HEADER}\n${blocks.join("\n\n")}\n`;
}
