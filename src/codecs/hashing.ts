import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Transform } from "node:stream";
import { StrongboxError } from "../errors.js";

/**
 * The MD5 of each run of `size` bytes of an object's stored bytes (an S3 upload's parts, for their
 * Content-MD5), taken where the bytes were made. `get(i)` is part i's (from 0), there by the time the
 * part's last byte can be read from the stream; undefined when it is not known.
 */
export interface PartDigests {
  readonly size: number;
  get(index: number): Buffer | undefined;
}

/** A file's digest as it is now, read in 1 MiB reads (each a fresh buffer: fewer, larger ones make less garbage). */
export async function hashFile(path: string, algorithm: "sha256" | "md5"): Promise<Buffer> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest();
}

/** Counts and hashes a stored object's bytes against what complete.json records for it. */
export class StoredCheck {
  private readonly hash?: ReturnType<typeof createHash>;
  private size = 0;
  private digestChecked = false;

  /** hashed: false — the bytes are hashed elsewhere (on the crypto worker) and the digest is handed to finishDigest. */
  constructor(
    private readonly expected: { key: string; size: number; sha256: string },
    o: { hashed?: boolean } = {},
  ) {
    if (o.hashed !== false) this.hash = createHash("sha256");
  }

  /** Throws as soon as there are more bytes than recorded. */
  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.expected.size)
      throw new StrongboxError("VERIFY", `${this.expected.key}: larger than recorded in complete.json (corrupt)`);
    this.hash?.update(chunk);
  }

  /** Throws unless the size (and, when hashed here, the SHA-256) match. */
  finish(): void {
    if (this.size !== this.expected.size)
      throw new StrongboxError(
        "VERIFY",
        `${this.expected.key}: ${this.size} bytes, complete.json says ${this.expected.size} (truncated)`,
      );
    if (this.hash) this.finishDigest(this.hash.digest("hex"));
  }

  /** Throws unless the SHA-256 of the stored bytes (hex) is the recorded one. */
  finishDigest(sha256: string): void {
    if (sha256 !== this.expected.sha256)
      throw new StrongboxError("VERIFY", `${this.expected.key}: SHA-256 mismatch (stored object is corrupt)`);
    this.digestChecked = true;
  }

  /** Where the digest comes from elsewhere: throws unless it came and was checked. */
  requireDigest(): void {
    if (!this.digestChecked)
      throw new StrongboxError("VERIFY", `${this.expected.key}: its SHA-256 was never checked (internal error)`);
  }
}

/** A pass-through that fails at the end unless the bytes match the recorded size and SHA-256. */
export function createHashCheck(
  expected: { key: string; size: number; sha256: string },
  onBytes?: (n: number) => void,
): Transform {
  const check = new StoredCheck(expected);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        check.update(chunk);
      } catch (err) {
        return cb(err as Error);
      }
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
    flush(cb) {
      try {
        check.finish();
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}
