// Every yaml block of the README and docs/, with its placeholders filled in, passes `strongbox config
// check` (a config, or a fragment of one merged into a minimal config) or `config check --schedule`.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatPublicKeyLine, generateSigningKey } from "../../src/crypto/ssh-signature.js";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

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

const work = tempDir("docsyaml");
const id = generateIdentity();
const identityFile = join(work, "identity.txt");
writeFileSync(identityFile, id.text, { mode: 0o600 });
const sourceDir = tempDir("docsyamldata");

/** The text with its placeholders replaced by working values: recipients, <…> fields. */
function fill(text: string): string {
  return text
    .replace(/age1(pq1)?[a-z0-9.…]*/g, id.recipient)
    .replace(/<account-id>|<account_id>/g, "123456789012")
    .replace(/<uuid>/g, "0a1b2c3d-0000-4000-8000-000000000000")
    .replace(/<[a-z_-]+>/g, "x1");
}

/** A value for each ${VAR}, by what its name says it is. */
function envFor(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, name] of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    env[name] = /URL/.test(name)
      ? "postgres://app:pw@127.0.0.1:5432/app"
      : /KEY_ID/.test(name)
        ? "AKIA7Q3ZK2PLRT"
        : /SECRET/.test(name)
          ? "wJalrXUtnFEMI7K7MDENGbPxRfiCY1x2"
          : work;
  }
  return env;
}

/** Files a config names (secrets, identity) are created; directories it needs exist. */
function materialize(c: Record<string, any>): void {
  const visit = (o: any) => {
    if (!o || typeof o !== "object") return;
    for (const [k, v] of Object.entries(o)) {
      if (k.endsWith("_file") && typeof v === "string" && k !== "identity_file" && !v.includes("${")) {
        const f = join(work, `secret-${Math.random().toString(16).slice(2)}`);
        writeFileSync(
          f,
          k.startsWith("url") || k.startsWith("postgres_url")
            ? "postgres://app:pw@127.0.0.1:5432/app\n"
            : "wJalrXUtnFEMI7K7MDENGbPxRfiCY1x2\n",
          { mode: 0o600 },
        );
        o[k] = f;
      } else visit(v);
    }
  };
  visit(c);
  if (c.encryption?.identity_file) c.encryption.identity_file = identityFile;
  if (c.encryption?.identity_passphrase_file) delete c.encryption.identity_passphrase_file;
  if (c.lock_dir) c.lock_dir = work;
  if (c.signing) {
    // A real signing key, trusted: every placeholder key line ("ssh-ed25519 AAAA… comment") becomes its public line.
    const g = generateSigningKey();
    if (c.signing.key_file) {
      c.signing.key_file = join(work, `signing-${Math.random().toString(16).slice(2)}.key`);
      writeFileSync(c.signing.key_file, g.privateKeyText, { mode: 0o600 });
    }
    for (const t of c.signing.trusted ?? []) t.key = formatPublicKeyLine(g.publicKey);
  }
}

const minimal = () => ({
  version: 1,
  repository: { url: `file://${join(work, "repo")}` },
  encryption: { recipients: [id.recipient] },
  sources: [
    { name: "db", type: "postgres", url: "postgres://app:pw@127.0.0.1:5432/app" },
    { name: "projects", type: "files", path: sourceDir },
    { name: "assets", type: "files", path: sourceDir },
  ],
});

describe("every yaml block of the README and docs/ passes config check", () => {
  it("there are blocks to check", () => expect(blocks.length).toBeGreaterThanOrEqual(4));
  it.each(blocks)("$name", async ({ text }) => {
    const filled = fill(text);
    const env = envFor(filled);
    const block = parse(filled.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, "$${$1}")) ?? {};
    const configFile = join(work, `c-${Math.random().toString(16).slice(2)}.yaml`);
    if (block.jobs) {
      // A schedule: checked against a config whose sources its jobs may name.
      writeFileSync(configFile, stringify(minimal()));
      const schedule = join(work, `s-${Math.random().toString(16).slice(2)}.yaml`);
      writeFileSync(schedule, filled);
      const r = await runCli(["-c", configFile, "config", "check", "--schedule", schedule], { env });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return;
    }
    // A whole config, or a fragment (top-level keys) laid over a minimal one.
    const config: Record<string, any> = block.version ? block : { ...minimal(), ...block };
    if (config.repository?.url?.startsWith("s3://") && !config.repository.s3) config.repository.s3 = {};
    materialize(config);
    writeFileSync(configFile, stringify(config));
    const r = await runCli(["-c", configFile, "config", "check"], { env });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
