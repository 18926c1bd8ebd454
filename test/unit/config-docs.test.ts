// Issue 23: the config is documented from one source, the zod schema's descriptions. The README's
// config reference, the JSON Schema and `strongbox init`'s sample are generated from it, and these
// tests fail when one of them drifts.
import { Ajv } from "ajv";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { configFields } from "../../src/config/fields.js";
import { configJsonSchema } from "../../src/config/json-schema.js";
import { configReference, REFERENCE_END, REFERENCE_START, withConfigReference } from "../../src/config/reference.js";
import { sampleConfig } from "../../src/config/sample.js";
import { configSchema } from "../../src/config/schema.js";
import { SAMPLE_ENV, uncommentLike } from "../helpers/sample-env.js";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("the schema describes every key", () => {
  const fields = configFields();
  it.each(fields.map((f) => [f.path, f] as const))("%s has a description", (_, f) => {
    expect(f.description.length, f.path).toBeGreaterThan(10);
  });
  it("covers every key of the zod schema, nested ones and both kinds of source", () => {
    expect(fields.length).toBeGreaterThanOrEqual(90);
    for (const p of [
      "version",
      "repository.s3.timeouts.idle",
      "sources[].path",
      "sources[].exclude_tables",
      "drill.checks[].sql",
      "signing.trusted[].valid_before",
      "daemon.listen",
    ]) {
      expect(fields.map((f) => f.path)).toContain(p);
    }
    expect(Object.keys(configSchema._def.schema.shape).every((k) => fields.some((f) => f.path === k))).toBe(true);
  });
  it("names the default from the schema, or 'required'", () => {
    const at = (p: string) => fields.find((f) => f.path === p)!;
    expect(at("repository.s3.part_size_mb").default).toBe("128");
    expect(at("repository.s3.timeouts.request").default).toBe("15m");
    expect(at("encryption.recipients").default).toBe("required");
    expect(at("sources[].url").default).toBe("required (or `url_file`)");
    expect(at("sources[].url_file").default).toBe("required (or `url`)");
  });
  it("the JSON Schema (`strongbox config schema`) carries the descriptions", () => {
    const s = configJsonSchema() as {
      properties: Record<string, { description?: string; properties?: Record<string, { description?: string }> }>;
    };
    expect(s.properties.compression.description).toMatch(/zstd/);
    expect(s.properties.repository.properties!.url.description).toMatch(/s3:\/\//);
  });
});

describe("README.md config reference", () => {
  it("has the generated part between its markers", () => {
    expect(readme).toContain(REFERENCE_START);
    expect(readme).toContain(REFERENCE_END);
  });
  it("matches the schema (run `npm run docs:config` after changing src/config/schema.ts)", () => {
    expect(withConfigReference(readme)).toBe(readme);
  });
  it("lists every key in a table row", () => {
    const reference = configReference();
    for (const f of configFields()) expect(reference).toContain(`| \`${f.path}\` |`);
  });
});

describe("strongbox init's sample config", () => {
  const input = {
    recipient: "age1ak5sh3eg93dx524d4zjy5rlrwerr7qja6w27qa7vf3hyvq9xga3q93m05e",
    identityFile: "/tmp/strongbox-identity.txt",
    repository: "file:///tmp/strongbox-repository",
    files: [{ name: "data", path: "/tmp/data" }],
    signing: {
      keyFile: "/tmp/strongbox-signing.key",
      publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILwWN22Beq9/rnbt1e1yeuEkaY5qtv6TWc6weu7ygAK0 strongbox-signing",
    },
  };
  const written = sampleConfig(input);
  const enabled = sampleConfig(input, { enableAll: true });

  it("with every commented block uncommented is the same text, '# ' removed from the commented-out lines", () => {
    const a = written.split("\n");
    const b = enabled.split("\n");
    expect(a.length).toBe(b.length);
    expect(uncommentLike(written, enabled)).toBe(enabled);
    expect(a.filter((line, i) => line !== b[i]).length).toBeGreaterThan(50);
  });

  it("uncommented, is valid YAML, sets every optional section, and validates (the config's own loader and the JSON Schema)", () => {
    const raw = parse(enabled, { uniqueKeys: true });
    const shown = Object.keys(configSchema._def.schema.shape).filter((k) => k !== "lock_dir");
    expect(Object.keys(raw).sort()).toEqual(shown.sort());
    expect(Object.keys(raw.repository.s3)).toEqual(
      Object.keys(configSchema._def.schema.shape.repository.shape.s3.unwrap().shape),
    );
    const cfg = parseConfig(enabled, SAMPLE_ENV, "sample");
    expect(cfg.sources.map((s) => s.type)).toEqual(["files", "postgres"]);
    const validate = new Ajv({ strict: false, allErrors: true }).compile(configJsonSchema());
    expect(validate(raw), JSON.stringify(validate.errors)).toBe(true);
  });

  it("as written, is valid and every key in it carries its description as a comment", () => {
    expect(() => parseConfig(written, {}, "sample")).not.toThrow();
    const lines = enabled.split("\n");
    const keys = lines.flatMap((l, i) => (/^\s*(- )?[a-z_]+:/.test(l) ? [i] : []));
    expect(keys.length).toBeGreaterThan(60);
    for (const i of keys) expect(lines[i - 1], lines[i]).toMatch(/^\s*# \S/);
    const retry = configFields().find((f) => f.path === "repository.s3.retry.attempts")!.description;
    expect(written).toContain(`\n  #     # ${retry}\n  #     attempts: 9\n`);
  });
});
