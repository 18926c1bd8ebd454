import type { Readable } from "node:stream";
import type { PartDigests } from "../codecs/hashing.js";

/**
 * put's options. `partMd5`: the MD5 of each part of the body, taken where the body was made (the
 * backup's crypto worker); a store that uploads in parts of that size uses them rather than hashing
 * the parts again itself, and ignores them otherwise.
 */
export interface PutOptions {
  signal?: AbortSignal;
  partMd5?: PartDigests;
}

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
}

/**
 * Where a repository's objects live. Keys are relative to the repository root, '/'-separated.
 * put never overwrites an existing key and never leaves a partial object under its final key
 * when the body errors or the signal aborts.
 */
export interface Store {
  readonly description: string;
  put(key: string, body: Readable, o?: PutOptions): Promise<ObjectInfo>;
  /** The size of the parts put uploads an object in (S3 multipart), where it uploads in parts. */
  readonly partSize?: number;
  /** NotFoundError when the key does not exist. */
  get(key: string, o?: { signal?: AbortSignal }): Promise<Readable>;
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Aborts uploads (S3 multipart) or removes temporary files started before `before`; returns what it removed. */
  abortStaleUploads?(before: Date): Promise<string[]>;
  /**
   * Object Lock: makes `key` undeletable until `days` days from now. S3 refuses to shorten a
   * COMPLIANCE retention (AccessDenied). Absent where the store has no Object Lock.
   */
  extendRetention?(key: string, days: number, o?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Whether `key` is stored with these exact bytes, asked with the writer's own powers: true stored,
   * false not stored (an S3 store has then sent it again, so a second call tells whether the copy
   * landed), undefined when the store cannot tell. Used for a full's complete.json before the
   * full becomes the base of differentials (differential/state.ts).
   */
  confirmStored?(key: string, body: Buffer, o?: { signal?: AbortSignal }): Promise<boolean | undefined>;
  /**
   * Whether `key` is stored, asked with the powers of the role that opened the store. Absent where that
   * role cannot look (an S3 writer may not read): the caller then cannot tell.
   */
  has?(key: string): Promise<boolean>;
  /**
   * Temporary files of killed writers: counted, and removed when asked. Only where this version writes
   * them (cheap, at every backup), unless `everywhere`: then the whole repository is searched (older
   * versions' temp files, empty backup directories), at the cost of reading every directory.
   */
  leftovers?(o: { remove: boolean; everywhere?: boolean }): Promise<{ count: number; bytes: number }>;
}

/** Iterates a body, remembering an error it throws, so a store can tell a failing source from its own failure. */
export async function* markErrors(body: AsyncIterable<Buffer>, mark: (err: unknown) => void): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (err) {
    mark(err);
    throw err;
  }
}
