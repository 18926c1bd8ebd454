// `strongbox policy` without --principal prints a placeholder principal: it says so, with the
// AWS, Ceph RGW and MinIO forms, so that nobody applies ACCOUNT-ID as printed.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const dir = tempDir("principal");
const config = join(dir, "strongbox.yaml");
writeFileSync(
  config,
  `version: 1
repository:
  url: s3://backups/spx-prod
  s3:
    credentials:
      writer: { access_key_id: "AKIA7Q3ZK2PLRT", secret_access_key: "wJalrXUtnFEMI7K7MDENGbPxRfiCY1x2" }
encryption: { recipients: [${generateIdentity().recipient}] }
sources: [{ name: f, type: files, path: ${dir} }]
`,
);
const forms = [
  /AWS: arn:aws:iam::<account-id>:user\/<name>/,
  /Ceph RGW: arn:aws:iam:::user\/<uid> \(empty account, the radosgw-admin uid\)/,
  /MinIO .*user policy without Principal/,
];

describe("the principal placeholder", () => {
  it("without --principal: the policy names ACCOUNT-ID and stderr says it is a placeholder, with each provider's form", async () => {
    const r = await runCli(["-c", config, "policy"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).Statement[0].Principal.AWS).toEqual(["arn:aws:iam::ACCOUNT-ID:user/strongbox-writer"]);
    expect(r.stderr).toMatch(/the principal is a placeholder: replace it, or give --principal/);
    for (const f of forms) expect(r.stderr).toMatch(f);
  });

  it("with --principal: no placeholder warning; ROLE becomes the role", async () => {
    const r = await runCli(["-c", config, "policy", "--principal", "arn:aws:iam:::user/sb-ROLE"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).Statement[0].Principal.AWS).toEqual(["arn:aws:iam:::user/sb-writer"]);
    expect(r.stderr).toBe("");
  });

  it("policy --help explains the three forms", async () => {
    const r = await runCli(["policy", "--help"]);
    const text = r.stdout.replace(/\s+/g, " ");
    for (const f of forms) expect(text).toMatch(f);
  });
});
