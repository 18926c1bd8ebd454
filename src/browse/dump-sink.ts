import { createHash } from "node:crypto";
import { discard } from "../archive/select-sink.js";
import type { EntrySink } from "../archive/tar-read.js";
import type { TreeSink } from "../archive/tree-pass.js";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";

/** Where `dump` writes: awaits the consumer (backpressure), fails if it went away. */
export type ByteOut = (chunk: Buffer) => Promise<void>;

/**
 * `dump`: one file's body to `out`, every other entry read and checked but discarded. The LAST
 * chunk is held back until the body's SHA-256 and size match the manifest's: a file that does
 * not match reaches the consumer truncated (and the run exits 3), never complete and wrong.
 */
export function dumpSink(
  path: string,
  expected: { sha256: string; size: number },
  out: ByteOut,
): TreeSink & { found(): boolean; selects(rel: string): boolean } {
  let found = false;
  const file = async (rel: string): Promise<EntrySink> => {
    if (rel !== path) return discard;
    found = true;
    const hash = createHash("sha256");
    let size = 0;
    let held: Buffer | undefined;
    return {
      async write(chunk) {
        hash.update(chunk);
        size += chunk.length;
        if (held) await out(held);
        held = Buffer.from(chunk);
      },
      async end() {
        const sha256 = hash.digest("hex");
        if (sha256 !== expected.sha256 || size !== expected.size)
          throw new StrongboxError(
            "VERIFY",
            `${quoteName(path)}: the archive's file (${size} bytes, SHA-256 ${sha256.slice(0, 16)}…) does not match the manifest (${expected.size} bytes, ${expected.sha256.slice(0, 16)}…): its last bytes were withheld (corrupt or forged)`,
          );
        if (held) await out(held);
        held = undefined;
      },
    };
  };
  return {
    dir: async () => {},
    symlink: async () => {},
    file,
    finish: async () => {},
    found: () => found,
    // A differential whose own object holds the file is read without its base (engine/restore.ts).
    selects: (rel) => rel === path,
  };
}
