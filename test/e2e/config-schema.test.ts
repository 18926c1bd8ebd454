// `strongbox config schema`: a JSON Schema an editor can use, generated from the config's own schema.
import { Ajv } from "ajv";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

describe("config schema", async () => {
  const r = await runCli(["config", "schema"]);
  const schema = JSON.parse(r.stdout);
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  const dir = tempDir("schema");
  await runCli(["init", dir]);
  const sample = parse(readFileSync(join(dir, "strongbox.yaml"), "utf8"));

  it("prints a draft-07 schema without needing a config file", () => {
    expect(r.code).toBe(0);
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.additionalProperties).toBe(false);
  });

  it("accepts the sample config `strongbox init` writes", () => {
    expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);
  });

  it("accepts <key>_file secrets and differential sources", () => {
    const c = structuredClone(sample);
    c.repository = {
      url: "s3://b/p",
      s3: {
        credentials: { writer: { access_key_id: "AKIA7Q3ZK2PLRT", secret_access_key_file: "/run/secrets/writer" } },
      },
    };
    c.sources.push(
      { name: "db", type: "postgres", url_file: "/run/secrets/db-url" },
      { name: "assets", type: "files", path: "/srv/a", differential: { full_every: "7d" } },
    );
    c.state_dir = "/var/lib/strongbox";
    expect(validate(c), JSON.stringify(validate.errors)).toBe(true);
  });

  it("rejects an unknown key, a wrong type, and a secret given neither inline nor as a file", () => {
    expect(validate({ ...sample, colour: "blue" })).toBe(false);
    expect(validate({ ...sample, retention: { keep_last: "three" } })).toBe(false);
    const c = structuredClone(sample);
    c.repository = { url: "s3://b/p", s3: { credentials: { writer: { access_key_id: "AKIA7Q3ZK2PLRT" } } } };
    expect(validate(c)).toBe(false);
  });
});
