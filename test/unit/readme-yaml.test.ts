import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { tempDir } from "../helpers/cli.js";

const root = new URL("../../", import.meta.url).pathname;
const docs = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const blocks = docs.flatMap((f) =>
  [...readFileSync(join(root, f), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({
    name: `${f} yaml block ${i + 1}`,
    text: m[1],
  })),
);

describe("every yaml block of the README and docs/", () => {
  it("there are blocks to check", () => expect(blocks.length).toBeGreaterThanOrEqual(2));
  it.each(blocks)("$name is valid YAML with no repeated key", ({ text }) => {
    expect(() => parse(text, { uniqueKeys: true })).not.toThrow();
  });
});

describe("the systemd example's credential reference", () => {
  it("secret_access_key_file: ${CREDENTIALS_DIRECTORY}/writer reads systemd's LoadCredential file", () => {
    const dir = tempDir("cred");
    writeFileSync(join(dir, "writer"), "s3cr3t-from-systemd\n", { mode: 0o600 });
    const text = `version: 1
repository:
  url: s3://b/p
  s3:
    credentials:
      writer: { access_key_id: "\${KEY}", secret_access_key_file: "\${CREDENTIALS_DIRECTORY}/writer" }
encryption: { recipients: [age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq] }
sources: [{ name: f, type: files, path: /tmp }]
`;
    const cfg = parseConfig(text, { KEY: "AKIA7Q3ZK2PLRT", CREDENTIALS_DIRECTORY: dir });
    expect(cfg.repository.s3!.credentials.writer!.secret_access_key).toBe("s3cr3t-from-systemd");
  });
});
