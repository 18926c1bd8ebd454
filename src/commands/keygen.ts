import { promises as fsp } from "node:fs";
import { generateIdentity } from "../crypto/age-keys.js";
import { StrongboxError } from "../errors.js";
import type { CommandContext } from "./context.js";

/** Writes a new identity file (mode 0600, never over an existing file); returns the recipient. */
export async function writeIdentityFile(path: string): Promise<string> {
  const g = generateIdentity();
  try {
    await fsp.writeFile(path, g.text, { mode: 0o600, flag: "wx" });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new StrongboxError(code === "EEXIST" ? "USAGE" : "SOURCE", code === "EEXIST" ? `${path} already exists; not overwriting an identity` : `cannot write ${path} (${code})`);
  }
  return g.recipient;
}

export async function keygenCommand(ctx: CommandContext, o: { output?: string }): Promise<void> {
  if (o.output) {
    const recipient = await writeIdentityFile(o.output);
    ctx.print({ recipient, identity_file: o.output }, recipient);
    return;
  }
  const g = generateIdentity();
  // The identity is a secret: it may go to a terminal or a pipe, never into --json output.
  if (ctx.json) throw new StrongboxError("USAGE", "keygen --json needs -o FILE (the identity is never printed as JSON)");
  process.stderr.write(`Public key: ${g.recipient}\n`);
  ctx.stdout.write(g.text);
}
