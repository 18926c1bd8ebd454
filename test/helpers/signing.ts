import { join } from "node:path";
import { expect } from "vitest";
import { makeRepo, runCli, type TestRepo } from "./cli.js";

/** A repository whose config signs (a key made by `strongbox keygen --signing`) and trusts that key. */
export async function signedRepo(
  o: Parameters<typeof makeRepo>[0],
): Promise<{ repo: TestRepo; keyFile: string; publicKey: string }> {
  const repo = makeRepo(o);
  const keyFile = join(repo.dir, "signing.key");
  const k = await runCli(["keygen", "--signing", "-o", keyFile]);
  expect(k.code).toBe(0);
  const publicKey = k.stdout.trim();
  expect(publicKey).toMatch(/^ssh-ed25519 AAAA\S+ strongbox-signing$/);
  repo.config.signing = { key_file: keyFile, trusted: [{ key: publicKey }] };
  repo.write();
  return { repo, keyFile, publicKey };
}

/** The docs' placeholder for a trusted key's line in allowed_signers. */
export const KEY_PLACEHOLDER = /ssh-ed25519 AAAA\S*… strongbox-signing/g;
