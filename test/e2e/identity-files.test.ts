// issue 22 items 3, 4 and 5: identity files are read exactly as `age -d -i` reads them, armored
// passphrase-protected ones (age -p -a) included, and a wrong passphrase's error never reveals it.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { inflateSync } from "node:zlib";
import { join } from "node:path";
import { armor, Encrypter } from "age-encryption";
import { describe, expect, it } from "vitest";
import { createDecryptStream } from "../../src/crypto/age.js";
import { generateIdentity, parseIdentities } from "../../src/crypto/age-keys.js";
import { dearmor, loadIdentityFile, readIdentities } from "../../src/crypto/identity-file.js";
import { redact } from "../../src/secrets.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const required = process.env.CI === "true";
const withAge = has("age") || required ? describe : describe.skip;
const withAgeScript = (has("age") && has("script")) || required ? describe : describe.skip;

const dir = tempDir("identity-files");
const PASS = "correct horse battery staple";

/** As keygen --passphrase writes it (age's scrypt), with a small work factor: tests try many passphrases. */
async function encryptIdentityText(text: string, passphrase: string): Promise<Buffer> {
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(12);
  return Buffer.from(await e.encrypt(text));
}

/** Does `age -d -i file` decrypt a file encrypted to the identity's recipient? */
function ageAccepts(file: string, encrypted: string): boolean {
  return spawnSync("age", ["-d", "-i", file, encrypted], { encoding: "utf8" }).stdout === "hand restore\n";
}

async function strongboxAccepts(file: string): Promise<boolean> {
  try {
    await loadIdentityFile(file, undefined, {});
    return true;
  } catch {
    return false;
  }
}

/** `age -p -a` run on a terminal (script(1) gives it one), the passphrase typed twice. */
function agePassphraseArmored(input: string, output: string, passphrase: string): void {
  execFileSync("script", ["-qec", `age -p -a -o '${output}' '${input}'`, "/dev/null"], {
    input: `${passphrase}\n${passphrase}\n`,
    timeout: 30_000,
  });
}

withAge("identity files: every file strongbox accepts, age -d -i accepts, and the other way round", () => {
  const id = generateIdentity();
  const plain = join(dir, "plain.txt");
  writeFileSync(plain, "hand restore\n");
  const encrypted = join(dir, "plain.txt.age");
  execFileSync("age", ["-r", id.recipient, "-o", encrypted, plain]);
  const key = id.identity.secret;
  const variants: [string, string, boolean][] = [
    ["as keygen writes it", id.text, true],
    ["CRLF line ends", id.text.replace(/\n/g, "\r\n"), true],
    ["no final newline", id.text.trimEnd(), true],
    ["blank lines and a comment without a space", `\n#comment\n\n${key}\n\n`, true],
    ["only the key", key, true],
    ["a leading space on the key line", ` ${key}\n`, false],
    ["a trailing space on the key line", `${key} \n`, false],
    ["a trailing tab", `${key}\t\n`, false],
    ["an indented comment", `  # created by hand\n${key}\n`, false],
    ["a line of spaces", `${key}\n   \n`, false],
    ["a lower-case key", `${key.toLowerCase()}\n`, false],
    ["a byte-order mark", `\ufeff${key}\n`, false],
    ["only comments", "# nothing here\n", false],
    ["an empty file", "", false],
    // One character of the checksum changed (to Q, or to P where it was Q: 1 key in 32 ends in Q).
    ["a mangled key", `${key.slice(0, -1)}${key.endsWith("Q") ? "P" : "Q"}\n`, false],
  ];
  for (const [name, text, expected] of variants) {
    it(name, async () => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.txt`);
      writeFileSync(file, text, { mode: 0o600 });
      const age = ageAccepts(file, encrypted);
      expect(age).toBe(expected);
      expect(await strongboxAccepts(file)).toBe(age);
    });
  }

  it("a refused file is named by line and cause, never echoed", async () => {
    const file = join(dir, "indented.txt");
    writeFileSync(file, `# ok\n  # indented\n ${key}\n`, { mode: 0o600 });
    const err = await loadIdentityFile(file, undefined, {}).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `${file}: line 2 is an indented comment (age wants # in the first column), which age refuses, so a restore by hand with age -d -i would fail: remove the spaces`,
    );
    writeFileSync(file, `${key} \n`, { mode: 0o600 });
    const err2 = (await loadIdentityFile(file, undefined, {}).catch((e: Error) => e)) as Error;
    expect(err2.message).toMatch(/line 1 has spaces around the key, which age refuses/);
    expect(err2.message).not.toContain(key.slice(20));
  });
});

withAgeScript("armored passphrase-protected identity files (age -p -a)", () => {
  const id = generateIdentity();
  const text = join(dir, "armored-src.txt");
  writeFileSync(text, id.text, { mode: 0o600 });
  const armored = join(dir, "identity.age.asc");
  agePassphraseArmored(text, armored, PASS);

  it("age -p -a's output is read with its passphrase, and gives the identity", async () => {
    expect(readFileSync(armored, "latin1")).toMatch(/^-----BEGIN AGE ENCRYPTED FILE-----\n/);
    const ids = await readIdentities(readFileSync(armored), armored, () => PASS);
    expect(ids).toEqual([id.identity]);
  }, 60_000);

  it("armored with CRLF (as the reference library writes it, line ends changed) is read too; a broken armor is named", async () => {
    const enc = armor.encode(await encryptIdentityText(id.text, PASS));
    expect((await readIdentities(Buffer.from(enc.replace(/\n/g, "\r\n")), "crlf", () => PASS))[0]).toEqual(id.identity);
    const lines = enc.split("\n");
    lines[1] = lines[1].slice(0, 63); // a short line in the middle
    await expect(readIdentities(Buffer.from(lines.join("\n")), "short.age", () => PASS)).rejects.toThrow(
      /^short\.age: not a valid armored age file \(invalid line length\); age's armor: /,
    );
    await expect(readIdentities(Buffer.from(enc), "nopass.age", () => null)).rejects.toThrow(
      /nopass\.age is passphrase-protected/,
    );
  }, 60_000);

  it("a backup verifies with an armored identity file (the CLI path)", async () => {
    const data = tempDir("armored-data");
    writeFileSync(join(data, "a.txt"), "armored\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const pass = join(repo.dir, "pass.txt");
    writeFileSync(pass, `${PASS}\n`, { mode: 0o600 });
    const cfg = repo.write(
      (c) => (
        (c.encryption.recipients = [id.recipient]),
        (c.encryption.identity_file = armored),
        (c.encryption.identity_passphrase_file = pass)
      ),
    );
    const b = await runCli(["-c", cfg, "backup", "now"]);
    expect(b.code, b.stderr).toBe(0);
    const v = await runCli(["-c", cfg, "verify", "latest"]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/ OK\n/);
  }, 60_000);
});

describe("de-armoring by age's rules: every CCTV armor vector reaches its verdict", () => {
  const vdir = join(import.meta.dirname, "../vectors/age");
  const names = readdirSync(vdir).filter((n) => n.startsWith("armor_"));
  it("holds the armor vectors", () => expect(names.length).toBe(33));
  for (const name of names) {
    it(name, async () => {
      const raw = readFileSync(join(vdir, name));
      const split = raw.indexOf("\n\n");
      const head = raw.subarray(0, split).toString("utf8");
      const field = (k: string) => [...head.matchAll(new RegExp(`^${k}: (.*)$`, "gm"))].map((m) => m[1]);
      const file = field("compressed")[0] === "zlib" ? inflateSync(raw.subarray(split + 2)) : raw.subarray(split + 2);
      const expected = field("expect")[0];
      let verdict = "success";
      try {
        const bin = dearmor(file, name);
        const ids = field("identity");
        await pipeline(
          Readable.from([bin]),
          createDecryptStream(ids.length ? parseIdentities(ids.join("\n")) : [], field("passphrase")),
          async function (s: AsyncIterable<Buffer>) {
            for await (const _ of s);
          },
        );
      } catch (err) {
        verdict = /not a valid armored age file/.test((err as Error).message) ? "armor failure" : "other failure";
      }
      expect(verdict).toBe(
        expected === "success" ? "success" : expected === "armor failure" ? "armor failure" : "other failure",
      );
    });
  }
});

describe("a wrong passphrase's error never reveals it", () => {
  it("the same fixed words whatever the passphrase (never masked, so never located)", async () => {
    const file = join(dir, "protected.age");
    writeFileSync(file, await encryptIdentityText(generateIdentity().text, PASS), { mode: 0o600 });
    const messages = new Set<string>();
    for (const wrong of ["file", "a", "age", "identity", "line", "cannot decrypt", "passphrase"]) {
      const passFile = join(dir, "wrong-pass.txt");
      writeFileSync(passFile, `${wrong}\n`, { mode: 0o600 });
      for (const err of [
        await loadIdentityFile(file, passFile, {}).catch((e: Error) => e),
        await loadIdentityFile(file, undefined, { STRONGBOX_IDENTITY_PASSPHRASE: wrong }).catch((e: Error) => e),
      ]) {
        const printed = redact((err as Error).message);
        expect(printed).not.toContain("***");
        messages.add(printed);
      }
    }
    expect([...messages]).toEqual([
      `${file}: cannot decrypt the identity file (wrong passphrase (or not a passphrase-encrypted file))`,
    ]);
  }, 120_000);

  it("through the CLI: verify with the passphrase 'file' prints no mask", async () => {
    const data = tempDir("wrongpass-data");
    writeFileSync(join(data, "a.txt"), "x\n");
    const repo = makeRepo({ sources: [{ name: "files", type: "files", path: data }] });
    const enc = join(repo.dir, "identity.age");
    writeFileSync(enc, await encryptIdentityText(readFileSync(repo.identityFile, "utf8"), PASS), { mode: 0o600 });
    const cfg = repo.write((c) => (c.encryption.identity_file = enc));
    expect((await runCli(["-c", cfg, "backup", "now"])).code).toBe(0);
    const r = await runCli(["-c", cfg, "verify", "latest"], { env: { STRONGBOX_IDENTITY_PASSPHRASE: "file" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/identity\.age: cannot decrypt the identity file \(wrong passphrase/);
    expect(r.stderr).not.toContain("***");
  }, 60_000);
});
