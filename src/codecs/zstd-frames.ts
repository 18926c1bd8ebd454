import { Transform, type TransformCallback } from "node:stream";
import zlib from "node:zlib";
import { StrongboxError } from "../errors.js";
import { head, MAX_RAW_FRAME, rawCandidate, rawContent } from "./zstd-raw.js";

const ZSTD_MAGIC = 0xfd2fb528;
const isSkippable = (magic: number) => (magic & 0xfffffff0) === 0x184d2a50;

type State = "magic" | "skipSize" | "skip" | "fhd" | "headerRest" | "blockHeader" | "block" | "checksum";

/**
 * Finds where zstd frames end (RFC 8878: frame header, block headers, optional checksum; skippable
 * frames too) without decompressing anything, so that a chunk can be cut at each frame's end.
 */
export class FrameScanner {
  private state: State = "magic";
  private need = 4;
  private field = Buffer.alloc(0);
  private lastBlock = false;
  private checksum = false;
  /** Whole frames were seen and nothing of a next one has started. */
  atBoundary = true;

  /** Cuts `chunk` after every frame end; pieces keep their order and bytes. */
  split(chunk: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    let start = 0;
    let i = 0;
    while (i < chunk.length) {
      this.atBoundary = false;
      if (this.state === "skip" || this.state === "block") {
        const n = Math.min(this.need, chunk.length - i);
        i += n;
        this.need -= n;
        if (this.need === 0) this.afterData();
      } else {
        const n = Math.min(this.need - this.field.length, chunk.length - i);
        this.field = Buffer.concat([this.field, chunk.subarray(i, i + n)]);
        i += n;
        if (this.field.length === this.need) this.afterField();
      }
      if (this.atBoundary) {
        pieces.push(chunk.subarray(start, i));
        start = i;
      }
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
    return pieces;
  }

  private expect(state: State, need: number): void {
    this.state = state;
    this.need = need;
    this.field = Buffer.alloc(0);
  }

  private frameDone(): void {
    this.expect("magic", 4);
    this.atBoundary = true;
  }

  private afterField(): void {
    const f = this.field;
    switch (this.state) {
      case "magic": {
        const magic = f.readUInt32LE(0);
        if (isSkippable(magic)) return this.expect("skipSize", 4);
        if (magic !== ZSTD_MAGIC)
          throw new StrongboxError("VERIFY", "zstd: not a zstd frame (bad magic number): the object is corrupt");
        return this.expect("fhd", 1);
      }
      case "skipSize":
        this.expect("skip", f.readUInt32LE(0));
        if (this.need === 0) this.frameDone();
        return;
      case "fhd": {
        const fhd = f[0];
        if (fhd & 0x08)
          throw new StrongboxError("VERIFY", "zstd: reserved bit set in a frame header: the object is corrupt");
        const single = (fhd & 0x20) !== 0;
        this.checksum = (fhd & 0x04) !== 0;
        const fcs = [single ? 1 : 0, 2, 4, 8][fhd >> 6];
        const rest = (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + fcs;
        if (rest === 0) return this.expect("blockHeader", 3);
        return this.expect("headerRest", rest);
      }
      case "headerRest":
        return this.expect("blockHeader", 3);
      case "blockHeader": {
        const h = f[0] | (f[1] << 8) | (f[2] << 16);
        this.lastBlock = (h & 1) === 1;
        const type = (h >> 1) & 3;
        if (type === 3) throw new StrongboxError("VERIFY", "zstd: reserved block type: the object is corrupt");
        this.expect("block", type === 1 ? 1 : h >>> 3);
        if (this.need === 0) this.afterData();
        return;
      }
      case "checksum":
        return this.frameDone();
    }
  }

  private afterData(): void {
    if (this.state === "skip") return this.frameDone();
    if (!this.lastBlock) return this.expect("blockHeader", 3);
    if (this.checksum) return this.expect("checksum", 4);
    this.frameDone();
  }
}

/**
 * zstd decompression that reads every frame of the stream. node:zlib's decompressor drops the rest
 * of an input chunk after a frame ends (measured on Node 24); here each frame reaches it in writes of
 * its own. A frame of raw blocks (what strongbox stores for media) is not sent to zlib at all: its
 * blocks' bytes are handed on as they are (zstd-raw.ts). A stream that stops inside a frame is a
 * VERIFY error, as is a stream with no frame at all.
 */
export class ZstdFramesDecompress extends Transform {
  private readonly scanner = new FrameScanner();
  /** zlib's decompressor, made for the first frame it must read, and ended before raw output that follows it. */
  private inner: zlib.ZstdDecompress | undefined;
  private sawInput = false;
  /** The current frame's pieces, held until its end decides whether it is raw; or "zlib" once it is streamed to zlib. */
  private frame: Buffer[] | "zlib" = [];
  private held = 0;
  private headerOk = false;

  /** Raw output waiting for the reader: one piece at a time, so that a reader's read() does not concatenate them. */
  private waiting: (() => void) | undefined;

  private wanted(): Promise<void> {
    return new Promise((resolve) => (this.waiting = resolve));
  }

  override _read(size: number): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
    this.inner?.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let pieces: Buffer[];
    try {
      pieces = this.scanner.split(chunk);
    } catch (err) {
      return done(err as Error);
    }
    if (chunk.length) this.sawInput = true;
    (async () => {
      for (let i = 0; i < pieces.length; i++)
        await this.piece(pieces[i], i < pieces.length - 1 || this.scanner.atBoundary);
    })().then(() => done(), done);
  }

  /** One piece of the current frame; `ends`: the frame ends with it. */
  private async piece(p: Buffer, ends: boolean): Promise<void> {
    if (this.frame === "zlib") {
      await this.toZlib(p);
    } else {
      this.frame.push(p);
      this.held += p.length;
      // Judged from its header, once that has come (a header is at most 18 bytes).
      const judged = this.headerOk || rawCandidate(head(this.frame, 18));
      if (judged && judged !== "zlib") this.headerOk = true;
      if (judged === "zlib" || this.held > MAX_RAW_FRAME + 1024) {
        const held = this.frame;
        this.frame = "zlib";
        for (const h of held) await this.toZlib(h);
      } else if (ends) {
        const content = rawContent(this.frame);
        const held = this.frame;
        this.frame = "zlib";
        if (content) {
          await this.endInner();
          for (const c of content) if (!this.push(c)) await this.wanted();
        } else for (const h of held) await this.toZlib(h);
      }
    }
    if (ends) {
      this.frame = [];
      this.held = 0;
      this.headerOk = false;
    }
  }

  /** Writes to zlib's decompressor (made on first use); resolves once it has taken the bytes. */
  private toZlib(p: Buffer): Promise<void> {
    if (!this.inner) {
      // 1 MiB output pieces: the default 16 KiB costs a JS callback and a buffer per 16 KiB (a third of a restore).
      const inner = zlib.createZstdDecompress({ chunkSize: 1024 * 1024 });
      // Backpressure: a reader that stops pauses the decompressor, which then holds back its write callbacks.
      inner.on("data", (d: Buffer) => {
        if (!this.push(d)) inner.pause();
      });
      inner.on("error", (err) => this.destroy(err));
      this.inner = inner;
    }
    const inner = this.inner;
    return new Promise((resolve) => inner.write(p, () => resolve()));
  }

  /**
   * Ends zlib's decompressor, if one is running, once all its output is out (raw output must not overtake it).
   * It stays `inner` until then: paused by a slow reader with output still buffered, it ends only once
   * _read resumes it.
   */
  private async endInner(): Promise<void> {
    const inner = this.inner;
    if (!inner) return;
    await new Promise<void>((resolve, reject) => {
      inner.once("end", resolve);
      inner.once("error", reject);
      inner.end();
    });
    if (this.inner === inner) this.inner = undefined;
  }

  override _flush(done: TransformCallback): void {
    if (!this.sawInput || !this.scanner.atBoundary)
      return done(
        new StrongboxError(
          "VERIFY",
          "zstd: the compressed stream ends inside a frame (truncated): the object is corrupt",
        ),
      );
    this.endInner().then(() => done(), done);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.inner?.destroy();
    cb(err);
  }
}
