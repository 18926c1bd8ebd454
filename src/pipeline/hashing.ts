import { createHash } from "node:crypto";
import { Transform } from "node:stream";
import { StrongboxError } from "../errors.js";

/** Counts and hashes a stored object's bytes against what complete.json records for it. */
export class StoredCheck {
  private readonly hash = createHash("sha256");
  private size = 0;

  constructor(private readonly expected: { key: string; size: number; sha256: string }) {}

  /** Throws as soon as there are more bytes than recorded. */
  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.expected.size) throw new StrongboxError("VERIFY", `${this.expected.key}: larger than recorded in complete.json (corrupt)`);
    this.hash.update(chunk);
  }

  /** Throws unless the size and the SHA-256 match. */
  finish(): void {
    if (this.size !== this.expected.size) throw new StrongboxError("VERIFY", `${this.expected.key}: ${this.size} bytes, complete.json says ${this.expected.size} (truncated)`);
    if (this.hash.digest("hex") !== this.expected.sha256) throw new StrongboxError("VERIFY", `${this.expected.key}: SHA-256 mismatch (stored object is corrupt)`);
  }
}

/** A pass-through that fails at the end unless the bytes match the recorded size and SHA-256. */
export function createHashCheck(expected: { key: string; size: number; sha256: string }, onBytes?: (n: number) => void): Transform {
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
