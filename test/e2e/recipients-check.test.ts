// issue 22 items 1, 2 and 8: config check refuses recipient lists no backup can use safely, naming the path.
import { writeFileSync } from "node:fs";
import { bech32 } from "@scure/base";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { generateIdentity, generatePqIdentity } from "../../src/crypto/age-keys.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
// In-process: nothing here needs a process boundary (see test/helpers/run-in-process.ts).
import { runInProcess as runCli } from "../helpers/run-in-process.js";

/** A hybrid recipient with its 1216 key bytes changed by `edit` (re-encoded, so only the key is wrong). */
async function editedPq(edit: (raw: Uint8Array) => void): Promise<string> {
  const r = (await generatePqIdentity()).recipient;
  const d = bech32.decode(r as `${string}1${string}`, false);
  const raw = Uint8Array.from(bech32.fromWords(d.words));
  edit(raw);
  return bech32.encode("age1pq", bech32.toWords(raw), false);
}

async function check(recipients: string[]): Promise<{ code: number | null; stderr: string }> {
  const repo = makeRepo({ sources: [{ name: "files", type: "files", path: tempDir("rc-data") }] });
  repo.config.encryption.recipients = recipients;
  writeFileSync(repo.configFile, stringify(repo.config));
  return runCli(["-c", repo.configFile, "config", "check"]);
}

describe("config check: recipients", () => {
  it("refuses post-quantum and classic recipients mixed, and says why (exit 2)", async () => {
    const r = await check([generateIdentity().recipient, (await generatePqIdentity()).recipient]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /encryption\.recipients: mixes post-quantum \(age1pq1…\) and classic \(age1…\) recipients: every object would then be only as strong as the classic key/,
    );
    expect(r.stderr).toContain("can't mix post-quantum and classic recipients");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses a hybrid recipient whose X25519 half is a low-order point", async () => {
    const r = await check([(await generatePqIdentity()).recipient, await editedPq((raw) => raw.fill(0, 1184))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/encryption\.recipients\[1\]: has a low-order X25519 point/);
  });

  it("refuses a hybrid recipient whose ML-KEM-768 key has coefficients >= q (FIPS 203 §7.2)", async () => {
    const allFf = await editedPq((raw) => raw.fill(0xff, 0, 1152));
    // One coefficient only: 3329 = 0xd01 as the first 12-bit value.
    const one = await editedPq((raw) => {
      raw[0] = 0x01;
      raw[1] = (raw[1] & 0xf0) | 0x0d;
    });
    for (const bad of [allFf, one]) {
      const r = await check([bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /encryption\.recipients\[0\]: is not a valid ML-KEM-768 key \(a coefficient is not below q = 3329/,
      );
    }
    // The largest allowed coefficient (3328 = 0xd00) is fine.
    const edge = await editedPq((raw) => {
      raw[0] = 0x00;
      raw[1] = (raw[1] & 0xf0) | 0x0d;
    });
    expect((await check([edge])).code).toBe(0);
  });

  it("bounds the number of recipients so that no header exceeds the 64 KiB readers accept", async () => {
    const pq = await Promise.all(Array.from({ length: 43 }, async () => (await generatePqIdentity()).recipient));
    const r = await check(pq);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /encryption\.recipients: 43 recipients make every object's age header \d+ bytes, over the 64 KiB that strongbox reads back: at most 42 post-quantum recipients/,
    );
    expect((await check(pq.slice(0, 42))).code).toBe(0);
  });
});
