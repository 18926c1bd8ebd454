import { createHash } from "node:crypto";
import { discard } from "../archive/select-sink.js";
import type { EntrySink } from "../archive/tar-read.js";
import type { TarEntry } from "../archive/tar-header.js";
import type { TreeSink } from "../archive/tree-pass.js";
import { StrongboxError } from "../errors.js";
import { quoteName } from "../terminal-safe.js";

/** Where `dump` writes: awaits the consumer (backpressure), fails if it went away. */
export type ByteOut = (chunk: Buffer) => Promise<void>;

/**
 * `dump`: one file's body to `out`, every other entry read and checked but discarded. A body whose
 * size is not the manifest's is refused before any of it is written, and the LAST chunk is held back
 * until the body's SHA-256 matches too: a file that does not match reaches the consumer truncated
 * (and the run exits 3), never complete and wrong.
 */
export function dumpSink(
  path: string,
  expected: { sha256: string; size: number },
  out: ByteOut,
): TreeSink & { found(): boolean; selects(rel: string): boolean } {
  let found = false;
  const mismatch = (what: string) =>
    new StrongboxError(
      "VERIFY",
      `${quoteName(path)}: the archive's file ${what} does not match the manifest's (${expected.size} bytes, SHA-256 ${expected.sha256.slice(0, 16)}…): nothing more of it was written (corrupt or forged)`,
    );
  const file = async (rel: string, e: TarEntry): Promise<EntrySink> => {
    if (rel !== path) return discard;
    found = true;
    // The tar header's size first: a body of another size is refused before any of it goes out.
    if (e.size !== expected.size) throw mismatch(`(${e.size} bytes)`);
    const hash = createHash("sha256");
    let size = 0;
    let held: Buffer | undefined;
    return {
      async write(chunk) {
        hash.update(chunk);
        size += chunk.length;
        // Never a byte past the manifest's size (the tar reader holds a body to its header's size).
        if (size > expected.size) throw mismatch(`(more than ${expected.size} bytes)`);
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
