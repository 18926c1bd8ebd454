import { createHash } from "node:crypto";
import { StrongboxError } from "../errors.js";
import { Transform } from "node:stream";

/** A pass-through that counts bytes and hashes them (SHA-256) on their way. */
export class HashMeter extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  private digestHex?: string;

  constructor(private readonly onBytes?: (n: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }

  override _flush(cb: () => void): void {
    this.digestHex = this.hash.digest("hex");
    cb();
  }

  get sha256(): string {
    if (!this.digestHex) throw new Error("HashMeter: stream not finished");
    return this.digestHex;
  }
}

/** A pass-through that fails at the end unless the bytes match the recorded size and SHA-256. */
export function createHashCheck(expected: { key: string; size: number; sha256: string }, onBytes?: (n: number) => void): Transform {
  const hash = createHash("sha256");
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > expected.size) return cb(new StrongboxError("VERIFY", `${expected.key}: larger than recorded in complete.json (corrupt)`));
      hash.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
    flush(cb) {
      if (size !== expected.size) return cb(new StrongboxError("VERIFY", `${expected.key}: ${size} bytes, complete.json says ${expected.size} (truncated)`));
      const got = hash.digest("hex");
      if (got !== expected.sha256) return cb(new StrongboxError("VERIFY", `${expected.key}: SHA-256 mismatch (stored object is corrupt)`));
      cb();
    },
  });
}
