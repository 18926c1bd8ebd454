import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { configEnvNames, parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { ConfigError } from "../../src/errors.js";
import { defaultLockDir } from "../../src/repository/lock.js";
import { tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess } from "../helpers/run-in-process.js";

const dir = tempDir("config");
const secretFile = join(dir, "writer-secret");
writeFileSync(secretFile, "s3cr3t-from-file\n", { mode: 0o600 });
const recipient = generateIdentity().recipient;

const valid = () => ({
  version: 1,
  repository: {
    url: "s3://bucket/prefix",
    s3: {
      endpoint: "https://s3.example.net",
      region: "eu-central-1",
      credentials: { writer: { access_key_id: "AKIAWRITER", secret_access_key_file: secretFile } },
    },
  },
  encryption: { recipients: [recipient] },
  sources: [
    { name: "projects", type: "files", path: "/opt/spx/ASSETS/projects" },
    { name: "db", type: "postgres", url: "postgres://app@db/app" },
  ],
});

type Mutation = (c: any) => void;

/** Each broken config must be refused (exit 2) with a message that names the field. */
const BROKEN: [string, Mutation, RegExp][] = [
  ["unknown top-level key", (c) => (c.colour = "blue"), /(^\s*|invalid config: )colour: unknown key/m],
  ["unknown nested key", (c) => (c.sources[0].pathh = "/x"), /sources\[0\]\.pathh: unknown key/],
  ["wrong version", (c) => (c.version = 2), /version: version must be 1/],
  ["missing repository", (c) => delete c.repository, /repository: is required/],
  ["bad repository scheme", (c) => (c.repository.url = "ftp://host/x"), /repository\.url: url must be s3:\/\//],
  ["s3 url without s3 section", (c) => delete c.repository.s3, /repository\.s3: is required for an s3:\/\/ repository/],
  [
    "example recipient",
    (c) => (c.encryption.recipients = ["age1examplexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
    /encryption\.recipients\[0\]: is the example recipient/,
  ],
  [
    "malformed recipient",
    (c) => (c.encryption.recipients = ["age1qqqq"]),
    /encryption\.recipients\[0\]: is not an age recipient \(age1… or age1pq1…\)/,
  ],
  [
    "low-order recipient",
    (c) => (c.encryption.recipients = ["age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z"]),
    /encryption\.recipients\[0\]: is a low-order X25519 point/,
  ],
  ["no recipients", (c) => (c.encryption.recipients = []), /encryption\.recipients: at least one recipient/],
  [
    "empty secret",
    (c) => {
      delete c.repository.s3.credentials.writer.secret_access_key_file;
      c.repository.s3.credentials.writer.secret_access_key = "";
    },
    /credentials\.writer\.secret_access_key: secret_access_key must not be empty/,
  ],
  [
    "unreadable secret file",
    (c) => (c.repository.s3.credentials.writer.secret_access_key_file = "/nonexistent/secret"),
    /credentials\.writer\.secret_access_key_file: cannot read \/nonexistent\/secret/,
  ],
  [
    "unset environment variable",
    (c) => (c.sources[1].url = "${STRONGBOX_TEST_UNSET_VAR}"),
    /sources\[1\]\.url: environment variable STRONGBOX_TEST_UNSET_VAR is not set/,
  ],
  ["relative source path", (c) => (c.sources[0].path = "relative/dir"), /sources\[0\]\.path: path must be absolute/],
  [
    "unknown source type",
    (c) => (c.sources[0].type = "mysql"),
    /sources\[0\]\.type: type must be 'files', 'postgres' or 'postgres-cluster'/,
  ],
  [
    "duplicate source names",
    (c) => (c.sources[1] = { ...c.sources[0] }),
    /sources\[1\]\.name: duplicate source name 'projects'/,
  ],
  ["bad source name", (c) => (c.sources[0].name = "my projects!"), /sources\[0\]\.name: name must be letters/],
  ["bad compression", (c) => (c.compression = "lz4"), /compression: compression must be zstd, gzip or none/],
  ["bad compression level", (c) => (c.compression = "zstd:99"), /compression: compression must be/],
  ["negative retention", (c) => (c.retention = { keep_last: -1 }), /retention\.keep_last: /],
  [
    "bad duration",
    (c) => (c.drill = { max_backup_age: "a day" }),
    /drill\.max_backup_age: max_backup_age must be a duration/,
  ],
  [
    "bad s3 timeout",
    (c) => (c.repository.s3.timeouts = { idle: "forever" }),
    /repository\.s3\.timeouts\.idle: idle must be a duration/,
  ],
  [
    "zero s3 timeout",
    (c) => (c.repository.s3.timeouts = { connect: "0s" }),
    /repository\.s3\.timeouts\.connect: connect must be longer than 0/,
  ],
  ["zero s3 retry attempts", (c) => (c.repository.s3.retry = { attempts: 0 }), /repository\.s3\.retry\.attempts: /],
  [
    "placeholder notify url",
    (c) => (c.notify = [{ type: "healthchecks", url: "https://hc.example.com/ping/<uuid>" }]),
    /notify\[0\]\.url: url contains a placeholder \(<uuid>\)/,
  ],
  [
    "drill check on unknown source",
    (c) => (c.drill = { checks: [{ source: "nope", name: "x", sql: "select true" }] }),
    /drill\.checks\[0\]\.source: no source named 'nope'/,
  ],
  [
    "both secret and secret file",
    (c) => (c.repository.s3.credentials.writer.secret_access_key = "x1234"),
    /secret_access_key_file: give either secret_access_key or secret_access_key_file/,
  ],
  ["sources not a list", (c) => (c.sources = { name: "x" }), /sources: Expected array/],
];

describe("config validation", () => {
  it("accepts the valid baseline and reads secrets from files without the trailing newline", () => {
    const cfg = parseConfig(stringify(valid()), {});
    expect(cfg.repository.s3!.credentials.writer!.secret_access_key).toBe("s3cr3t-from-file");
    expect(cfg.compression).toBe("zstd");
  });

  it("interpolates ${VAR} from the environment", () => {
    const c = valid();
    c.sources[1].url = "${DB_URL}";
    expect((parseConfig(stringify(c), { DB_URL: "postgres://u@h/d" }).sources[1] as { url: string }).url).toBe(
      "postgres://u@h/d",
    );
  });

  it("remembers which environment variables it names, for a child that runs strongbox with it", () => {
    const c = valid();
    c.sources[1].url = "${DB_URL}";
    const cfg = parseConfig(stringify(c), { DB_URL: "postgres://u@h/d", OTHER: "x" });
    expect(configEnvNames(cfg)).toEqual(["DB_URL"]);
  });

  it("for a reader's run (a recovery's wal fetch): not the names only a source, the drill or another role reads", () => {
    const c: any = valid();
    c.sources[1].url = "${DB_URL}";
    c.repository.s3.endpoint = "${S3_ENDPOINT}";
    c.repository.s3.credentials.writer = { access_key_id: "${WRITER_ID}", secret_access_key: "${WRITER_SECRET}" };
    c.repository.s3.credentials.reader = { access_key_id: "${READER_ID}", secret_access_key: "${READER_SECRET}" };
    c.drill = { postgres_url: "${DRILL_URL}" };
    const env = Object.fromEntries(
      ["DB_URL", "S3_ENDPOINT", "WRITER_ID", "WRITER_SECRET", "READER_ID", "READER_SECRET", "DRILL_URL"].map((n) => [
        n,
        n === "S3_ENDPOINT" ? "https://s3.example.net" : n.endsWith("URL") ? "postgres://u@h/d" : `AKIA${n}Q7w2`,
      ]),
    );
    const cfg = parseConfig(stringify(c), env);
    expect(configEnvNames(cfg).sort()).toEqual(Object.keys(env).sort());
    expect(configEnvNames(cfg, { readerOnly: true }).sort()).toEqual(["READER_ID", "READER_SECRET", "S3_ENDPOINT"]);
    // A source's name may use a variable too: loading the config compares names, so it is kept.
    const named: any = valid();
    named.sources[0].name = "${SITE}-files";
    named.sources[1].name = "${SITE}-db";
    const cfg2 = parseConfig(stringify(named), { SITE: "web1" });
    expect(configEnvNames(cfg2, { readerOnly: true })).toEqual(["SITE"]);
  });

  it("reports every error at once, each with its path", () => {
    const c: any = valid();
    c.colour = 1;
    c.sources[0].path = "rel";
    c.encryption.recipients = ["nope"];
    try {
      parseConfig(stringify(c), {});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues.join("\n");
      expect(issues).toMatch(/colour: unknown key/);
      expect(issues).toMatch(/sources\[0\]\.path/);
      expect(issues).toMatch(/encryption\.recipients\[0\]/);
    }
  });

  it("reports invalid YAML with its line", () => {
    expect(() => parseConfig("version: 1\nsources: [\n", {})).toThrow(/invalid YAML at line/);
  });

  it.each(BROKEN)("`config check` refuses %s: exit 2, names the field", async (_name, mutate, message) => {
    const c = valid();
    mutate(c);
    const file = join(dir, `c-${Math.random().toString(16).slice(2)}.yaml`);
    writeFileSync(file, stringify(c));
    const r = await runInProcess(["-c", file, "config", "check"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain("s3cr3t-from-file");
  });

  it("`config check` passes a valid config (exit 0)", async () => {
    const file = join(dir, "valid.yaml");
    writeFileSync(file, stringify(valid()));
    const r = await runInProcess(["-c", file, "config", "check"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK \(2 sources/);
  });
});

describe("bad flags and arguments: exit 2 with a clear one-line message", () => {
  const file = join(dir, "flags.yaml");
  writeFileSync(file, stringify(valid()));
  const CASES: [string[], RegExp][] = [
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["backup", "now", "--bogus"], /unknown option '--bogus'/],
    [["restore"], /missing required argument 'id'/],
    [["-c", file, "backup", "now", "--source", "nope"], /--source nope: no such source/],
    [["-c", file, "restore", "latest"], /restore needs a target/],
    [["-c", file, "restore", "not-an-id", "--to-dir", "/tmp/x"], /not a backup id: not-an-id/],
    [["-c", file, "policy", "admin"], /role must be writer, reader or pruner/],
    [["-c", join(dir, "missing.yaml"), "config", "check"], /config file not found/],
    [["--quiet", "--verbose", "list"], /cannot be used with option/],
    [["restore", "latest", "--to-dir", "/tmp/a", "--to-dir", "/tmp/b"], /option '--to-dir' given twice/],
    [["-c", file, "-c", file, "list"], /option '--config' given twice/],
    [[], /^strongbox: missing command: one of init, keygen, config, backup, list/],
    [["wal"], /^strongbox: wal: missing command: one of push, fetch \(see strongbox --help\)/],
    [["-c", file, "backup"], /backup: missing command: one of now/],
  ];
  it.each(CASES)("strongbox %j", async (args, message) => {
    const r = await runInProcess(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("wal fetch: a mistake on its command line stops recovery (exit 255), never ends it", () => {
  // PostgreSQL reads restore_command's exit codes up to 125 as "not archived": exit 2 would end
  // recovery there and promote.
  it.each([
    [["wal", "fetch", "000000010000000000000001", "/tmp/x", "extra"], /too many arguments/],
    [["-c", "/nonexistent.yaml", "wal", "fetch", "--system-id"], /argument missing/],
    [["wal", "fetch", "000000010000000000000001", "/tmp/x", "--system_id", "7"], /unknown option/],
    [["-qc", "/nonexistent.yaml", "wal", "fetch", "000000010000000000000001", "/tmp/x", "extra"], /too many/],
    [["wal", "fetchh", "000000010000000000000001", "/tmp/x"], /unknown command 'fetchh'/],
  ])("strongbox %j", async (args, message) => {
    const r = await runInProcess(args);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\(recovery stops here: exit 255\)\n$/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("wal fetch detection", () => {
  it.each([[["find", "wal", "fetch"]], [["find", "--", "wal", "fetch"]], [["ls", "latest", "wal", "fetchx", "extra"]]])(
    "strongbox %j is not wal fetch: a usage error there is exit 2",
    async (args) => {
      expect((await runInProcess(args)).code).toBe(2);
    },
  );
});

describe("help", () => {
  it.each([[["help"]], [["help", "backup"]], [["--help"]], [["backup", "--help"]]])(
    "strongbox %j prints the help and exits 0",
    async (args) => {
      const r = await runInProcess(args);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    },
  );
});

describe("an unset variable outside the values that may wait", () => {
  it("is one problem naming it, not followed by what the schema then says of the empty value", () => {
    const c: any = valid();
    c.repository.url = "${NOPE_UNSET_VAR}";
    let issues: string[] = [];
    try {
      parseConfig(stringify(c), {});
    } catch (err) {
      issues = (err as ConfigError).issues;
    }
    expect(issues).toEqual(["repository.url: environment variable NOPE_UNSET_VAR is not set"]);
  });

  it("a relative STRONGBOX_LOCK_DIR is refused, as a relative lock_dir is", () => {
    expect(() => defaultLockDir({ STRONGBOX_LOCK_DIR: "relative/locks" })).toThrow(/must be absolute/);
  });
});

describe("YAML that is not plain data", () => {
  it("an unknown tag is a config error naming the line, not a string after a warning", () => {
    expect(() => parseConfig('version: 1\naudit_log: !!js/function "function(){}"\n', {}, "c.yaml")).toThrow(
      /c\.yaml: invalid YAML at line 2, column 12: Unresolved tag: tag:yaml\.org,2002:js\/function/,
    );
  });

  it("an alias expanded past the bound (a 'billion laughs' file) is a config error, not exit 1", () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    let prev = "a";
    for (const n of "bcdefghi") {
      lines.push(`${n}: &${n} [${Array(9).fill(`*${prev}`).join(",")}]`);
      prev = n;
    }
    expect(() => parseConfig(lines.join("\n"), {}, "bomb.yaml")).toThrow(
      /bomb\.yaml: invalid YAML: Excessive alias count/,
    );
  });
});

describe("an unquoted ${VAR} in a flow mapping", () => {
  it("is a parse error that says to quote it", () => {
    const text =
      "version: 1\nrepository:\n  url: s3://b/p\n  s3:\n    credentials:\n      writer: { access_key_id: ${KEY_ID}, secret_access_key: x }\n";
    expect(() => parseConfig(text, { KEY_ID: "AKIA" })).toThrow(
      /invalid YAML at line 6.*quote \$\{VAR\} references: "\$\{VAR\}"/,
    );
  });
});
