import { fileUrlOf } from "../config/file-url.js";
import { existsSync, promises as fsp } from "node:fs";
import { basename, join, resolve } from "node:path";
import { sampleConfig } from "../config/sample.js";
import { StrongboxError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { writeIdentityFile, writeSigningKeyFile } from "./keygen.js";

export async function initCommand(
  ctx: CommandContext,
  dirArg: string | undefined,
  o: { files?: string[]; pq?: boolean },
): Promise<void> {
  const dir = resolve(dirArg ?? ".");
  await fsp.mkdir(dir, { recursive: true });
  const configFile = join(dir, "strongbox.yaml");
  const identityFile = join(dir, "strongbox-identity.txt");
  const signingKeyFile = join(dir, "strongbox-signing.key");
  for (const f of [configFile, identityFile, signingKeyFile]) {
    if (existsSync(f)) throw new StrongboxError("USAGE", `${f} already exists; not overwriting it`);
  }
  const paths = o.files?.length ? o.files.map((p) => resolve(p)) : [join(dir, "data")];
  const names = new Set<string>();
  const files = paths.map((path) => {
    let name =
      basename(path)
        .toLowerCase()
        .replace(/[^a-z0-9_-]/g, "-")
        .replace(/^-+/, "") || "files";
    while (names.has(name)) name += "-2";
    names.add(name);
    return { name, path };
  });
  for (const f of files) await fsp.mkdir(f.path, { recursive: true });
  const recipient = await writeIdentityFile(identityFile, { pq: o.pq });
  const signingKey = await writeSigningKeyFile(signingKeyFile);
  const repository = fileUrlOf(join(dir, "repository"));
  await fsp.writeFile(
    configFile,
    sampleConfig({
      recipient,
      identityFile,
      repository,
      files,
      signing: { keyFile: signingKeyFile, publicKey: signingKey },
    }),
    { mode: 0o600, flag: "wx" },
  );
  ctx.print(
    {
      config: configFile,
      identity_file: identityFile,
      recipient,
      signing_key_file: signingKeyFile,
      signing_public_key: signingKey,
      repository,
    },
    `wrote ${configFile}\nwrote ${identityFile} (mode 0600: the private key; keep it off the backup host)\nrecipient: ${recipient}\nwrote ${signingKeyFile} (mode 0600: the backup host's signing key)\nsigning key: ${signingKey}`,
  );
}
