import { promises as fsp } from "node:fs";
import { generateIdentity, generatePqIdentity } from "../crypto/age-keys.js";
import { encryptIdentityText, PASSPHRASE_ENV } from "../crypto/identity-file.js";
import { StrongboxError } from "../errors.js";
import { formatPublicKeyLine, generateSigningKey } from "../crypto/ssh-signature.js";
import type { CommandContext } from "./context.js";
import { promptPassphrase } from "./passphrase-prompt.js";

export interface KeygenOptions {
  /** Hybrid post-quantum identity (age1pq1… recipient) instead of X25519. */
  pq?: boolean;
  /** Encrypt the identity file with a passphrase (scrypt), from the environment or a prompt. */
  passphrase?: boolean;
  /** Accept a passphrase shorter than MIN_PASSPHRASE. */
  weakPassphrase?: boolean;
}

/**
 * The shortest passphrase keygen takes without --weak-passphrase. The encrypted identity may sit on
 * backup media for years and be attacked offline at leisure: scrypt (work factor 2^18) slows each guess
 * to ~1 s of one core, which 12 characters (even of lower-case letters only, 26^12 ≈ 10^17 guesses)
 * puts far out of reach, and which a 6-character one (3·10^8 at most) does not.
 */
export const MIN_PASSPHRASE = 12;

function checkPassphrase(p: string, weak: boolean | undefined): string {
  // Never echo it, nor any part of it: only its length.
  if (!weak && [...p].length < MIN_PASSPHRASE) {
    throw new StrongboxError(
      "USAGE",
      `keygen --passphrase: the passphrase has ${[...p].length} characters, fewer than ${MIN_PASSPHRASE} (the encrypted identity can be attacked offline for years): use a longer one, or --weak-passphrase to accept it`,
    );
  }
  return p;
}

async function newIdentity(o: KeygenOptions): Promise<{ text: string; recipient: string }> {
  return o.pq ? generatePqIdentity() : generateIdentity();
}

/** The passphrase for keygen --passphrase: $STRONGBOX_IDENTITY_PASSPHRASE, else asked on the terminal; never argv. */
async function keygenPassphrase(env: NodeJS.ProcessEnv): Promise<string> {
  const fromEnv = env[PASSPHRASE_ENV];
  if (fromEnv) return fromEnv;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new StrongboxError(
      "USAGE",
      `keygen --passphrase needs ${PASSPHRASE_ENV} or a terminal to ask for the passphrase`,
    );
  }
  const p = await promptPassphrase("Passphrase for the identity file: ");
  if (!p) throw new StrongboxError("USAGE", "empty passphrase");
  if ((await promptPassphrase("Same passphrase again: ")) !== p)
    throw new StrongboxError("USAGE", "the passphrases differ");
  return p;
}

/** Writes a new identity file (mode 0600, never over an existing file); returns the recipient. */
export async function writeIdentityFile(
  path: string,
  o: KeygenOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const g = await newIdentity(o);
  const content = o.passphrase
    ? await encryptIdentityText(g.text, checkPassphrase(await keygenPassphrase(env), o.weakPassphrase))
    : g.text;
  try {
    await fsp.writeFile(path, content, { mode: 0o600, flag: "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StrongboxError(
      code === "EEXIST" ? "USAGE" : "SOURCE",
      code === "EEXIST" ? `${path} already exists; not overwriting an identity` : `cannot write ${path} (${code})`,
    );
  }
  return g.recipient;
}

/**
 * Writes a new Ed25519 signing key (mode 0600, never over an existing file) in the unencrypted OpenSSH
 * format, so `ssh-keygen -y -f FILE` prints its public key and `ssh-keygen -Y sign` can use it;
 * returns the public line for `signing.trusted`.
 */
export async function writeSigningKeyFile(path: string): Promise<string> {
  const g = generateSigningKey();
  try {
    await fsp.writeFile(path, g.privateKeyText, { mode: 0o600, flag: "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StrongboxError(
      code === "EEXIST" ? "USAGE" : "SOURCE",
      code === "EEXIST" ? `${path} already exists; not overwriting a key` : `cannot write ${path} (${code})`,
    );
  }
  return formatPublicKeyLine(g.publicKey);
}

export async function keygenCommand(
  ctx: CommandContext,
  o: { output?: string; signing?: boolean } & KeygenOptions,
): Promise<void> {
  if (o.signing) {
    if (o.pq || o.passphrase)
      throw new StrongboxError(
        "USAGE",
        "keygen --signing makes an Ed25519 signing key: --pq and --passphrase do not apply (an unattended backup host must read it)",
      );
    if (o.output) {
      const publicKey = await writeSigningKeyFile(o.output);
      ctx.print({ public_key: publicKey, key_file: o.output, kind: "ed25519-signing" }, publicKey);
      return;
    }
    if (ctx.json)
      throw new StrongboxError(
        "USAGE",
        "keygen --signing --json needs -o FILE (a private key is never printed as JSON)",
      );
    const g = generateSigningKey();
    process.stderr.write(`Public key: ${formatPublicKeyLine(g.publicKey)}\n`);
    ctx.stdout.write(g.privateKeyText);
    return;
  }
  if (o.output) {
    const recipient = await writeIdentityFile(o.output, o, ctx.env);
    ctx.print(
      {
        recipient,
        identity_file: o.output,
        kind: o.pq ? "pq-hybrid" : "x25519",
        passphrase_protected: Boolean(o.passphrase),
      },
      recipient,
    );
    return;
  }
  if (o.passphrase)
    throw new StrongboxError("USAGE", "keygen --passphrase needs -o FILE (an encrypted identity is binary)");
  // The identity is a secret: it may go to a terminal or a pipe, never into --json output.
  if (ctx.json)
    throw new StrongboxError("USAGE", "keygen --json needs -o FILE (the identity is never printed as JSON)");
  const g = await newIdentity(o);
  process.stderr.write(`Public key: ${g.recipient}\n`);
  ctx.stdout.write(g.text);
}
