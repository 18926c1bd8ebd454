// age v1 files (https://age-encryption.org/v1). The header — recipient stanzas, identities, header MAC —
// comes from the age reference library (`age-encryption`); the payload stays on age-stream.ts, native STREAM.
import { randomBytes } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { StrongboxError } from "../errors.js";
import type { Identity } from "./age-keys.js";
import { buildX25519Header, isX25519Recipient } from "./age-x25519.js";
import { NONCE_SIZE, PayloadError, PayloadOpener, PayloadSealer, payloadKey } from "./age-stream.js";

export { CHUNK } from "./age-stream.js";
export const MAX_HEADER = 64 * 1024;
const VERSION = "age-encryption.org/v1\n";
const HEADER_OVERHEAD = NONCE_SIZE + 16; // what follows the header in an empty file: nonce + one empty sealed chunk

/**
 * Builds a header for a fresh file key: for X25519 recipients only, on node:crypto (age-x25519.ts);
 * otherwise with the library, which encrypts an empty file to the recipients plus one recipient of
 * ours that only records the file key and adds no stanza.
 */
export async function buildHeader(recipients: string[]): Promise<{ header: Buffer; fileKey: Buffer }> {
  if (recipients.length > 0 && recipients.every(isX25519Recipient)) return buildX25519Header(recipients);
  let fileKey: Buffer | null = null;
  const e = new (await import("age-encryption")).Encrypter();
  for (const r of recipients) e.addRecipient(r);
  e.addRecipient({ wrapFileKey: (k: Uint8Array) => ((fileKey = Buffer.from(k)), []) });
  const empty = await e.encrypt(new Uint8Array(0));
  if (!fileKey) throw new StrongboxError("CRYPTO", "age: the file key was not handed to recipients");
  return { header: Buffer.from(empty.subarray(0, empty.length - HEADER_OVERHEAD)), fileKey };
}

/** A new age file's header and payload nonce (written first, in that order) and its STREAM key. */
export async function startFile(recipients: string[]): Promise<{ header: Buffer; nonce: Buffer; key: Buffer }> {
  let built;
  try {
    built = await buildHeader(recipients);
  } catch (err) {
    throw new StrongboxError("CRYPTO", `age: cannot encrypt to the recipients (${(err as Error).message})`);
  }
  const nonce = randomBytes(NONCE_SIZE);
  return { header: built.header, nonce, key: payloadKey(built.fileKey, nonce) };
}

/** Encrypts a byte stream to age recipients (age1… and/or age1pq1… strings) as an age v1 file. */
export function createEncryptStream(recipients: string[]): Transform {
  if (recipients.length === 0) throw new StrongboxError("CRYPTO", "no age recipients configured");
  let sealer: PayloadSealer | null = null;
  const start = async (t: Transform) => {
    const file = await startFile(recipients);
    t.push(file.header);
    t.push(file.nonce);
    return new PayloadSealer(file.key);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      // Only the first chunk waits for the (async) header; the payload path stays synchronous.
      if (sealer) {
        for (const c of sealer.push(chunk)) this.push(c);
        return cb();
      }
      start(this).then((s) => {
        sealer = s;
        for (const c of s.push(chunk)) this.push(c);
        cb();
      }, cb);
    },
    flush(cb: TransformCallback) {
      (async () => {
        sealer ??= await start(this);
        this.push(sealer.end());
      })().then(() => cb(), cb);
    },
  });
}

export function corrupt(what: string): StrongboxError {
  return new StrongboxError("VERIFY", `age: ${what}`);
}

// Stanza argument lines as age accepts them: "-> " then non-empty printable-ASCII arguments, single spaces.
const STANZA_LINE = /^-> [\x21-\x7e]+( [\x21-\x7e]+)*$/;
const MAC_LINE = /^--- [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$/;

/** Strict line checks the library leaves out; throws VERIFY on a malformed header. */
function checkHeaderLines(header: Buffer): void {
  if (header.some((b) => b !== 0x0a && (b < 0x20 || b > 0x7e)))
    throw corrupt("malformed header (bytes outside printable ASCII)");
  const lines = header.toString("latin1").split("\n");
  lines.pop(); // the header ends with "\n"
  const mac = lines.pop()!;
  if (!MAC_LINE.test(mac)) throw corrupt("malformed header (bad MAC line)");
  for (const l of lines)
    if (l.startsWith("->") && !STANZA_LINE.test(l)) throw corrupt("malformed header (bad stanza arguments)");
}

/** Authenticates an age header with the library; returns the file key. */
export async function openHeader(header: Buffer, identities: Identity[], passphrases: string[] = []): Promise<Buffer> {
  checkHeaderLines(header);
  const d = new (await import("age-encryption")).Decrypter();
  for (const id of identities) d.addIdentity(id.secret);
  for (const p of passphrases) d.addPassphrase(p);
  try {
    return Buffer.from(await d.decryptHeader(header));
  } catch (err) {
    const msg = (err as Error).message;
    if (/no identity matched/.test(msg)) {
      throw new StrongboxError(
        "CRYPTO",
        passphrases.length
          ? "age: wrong passphrase (or not a passphrase-encrypted file)"
          : "age: no identity matches this file (it was encrypted to other recipients: wrong identity file?)",
      );
    }
    if (/invalid header HMAC/.test(msg)) throw corrupt("header MAC mismatch (file is corrupt)");
    throw corrupt(`malformed header (${msg.replace(/[^\x20-\x7e]/g, "?").slice(0, 80)})`);
  }
}

/** Decrypts an age v1 stream; fails on a wrong identity, any tampering, truncation or trailing data. */
export function createDecryptStream(identities: Identity[], passphrases: string[] = []): Transform {
  const headerBuf = new Gathered();
  let fileKey: Buffer | null = null;
  let pending: Buffer = Buffer.alloc(0);
  let opener: PayloadOpener | null = null;
  const emit = (t: Transform, run: () => Buffer[]) => {
    try {
      for (const c of run()) t.push(c);
    } catch (err) {
      if (!(err instanceof PayloadError)) throw err;
      for (const c of err.released) t.push(c);
      throw corrupt(err.message);
    }
  };
  const feed = (t: Transform, data: Buffer) => {
    if (!opener) {
      pending = Buffer.concat([pending, data]);
      if (pending.length < NONCE_SIZE) return;
      opener = new PayloadOpener(payloadKey(fileKey!, pending.subarray(0, NONCE_SIZE)));
      data = pending.subarray(NONCE_SIZE);
      pending = Buffer.alloc(0);
    }
    const o = opener;
    emit(t, () => o.push(data));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (fileKey) {
        try {
          feed(this, chunk);
          return cb();
        } catch (err) {
          return cb(err as Error);
        }
      }
      (async () => {
        const from = headerBuf.length;
        const all = headerBuf.push(chunk);
        const end = boundedHeaderEnd(all, from);
        if (end < 0) return;
        fileKey = await openHeader(all.subarray(0, end), identities, passphrases);
        feed(this, all.subarray(end));
      })().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      try {
        if (!fileKey)
          throw corrupt(headerBuf.length ? "file truncated inside the header" : "empty file, not an age file");
        if (!opener) throw corrupt("file truncated before the payload");
        const o = opener;
        emit(this, () => o.end());
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/**
 * Index just past the "--- <mac>\n" line, or -1 when the header is not complete yet. `from`: how many
 * bytes of `buf` an earlier call already searched (the search goes on from the line they end in).
 */
export function findHeaderEnd(buf: Buffer, from = 0): number {
  const head = buf.subarray(0, VERSION.length).toString("latin1");
  if (!VERSION.startsWith(head)) throw corrupt("not an age v1 file (bad version line)");
  const mac = buf.indexOf("\n---", from > 0 ? Math.max(0, buf.lastIndexOf(0x0a, from - 1)) : 0);
  if (mac < 0) return -1;
  const nl = buf.indexOf(0x0a, mac + 1);
  return nl < 0 ? -1 : nl + 1;
}

/**
 * findHeaderEnd, refusing a header longer than MAX_HEADER whether its end has arrived or not, so
 * that the verdict never depends on how the bytes were cut into pieces.
 */
export function boundedHeaderEnd(buf: Buffer, from = 0): number {
  const end = findHeaderEnd(buf, from);
  if (end > MAX_HEADER || (end < 0 && buf.length > MAX_HEADER))
    throw corrupt("not an age file (no header end within 64 KiB)");
  return end;
}

/** Bytes gathered piece by piece (an age header), each piece copied once: the room doubles as it fills. */
export class Gathered {
  private room = Buffer.alloc(0);
  length = 0;
  /** Adds a piece; returns everything gathered so far (valid until the next push). */
  push(chunk: Buffer): Buffer {
    if (this.length + chunk.length > this.room.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.length + chunk.length, 2 * this.room.length, 1024));
      this.room.copy(grown, 0, 0, this.length);
      this.room = grown;
    }
    chunk.copy(this.room, this.length);
    this.length += chunk.length;
    return this.room.subarray(0, this.length);
  }
}
