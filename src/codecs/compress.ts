import { PassThrough, type Transform } from "node:stream";
import zlib from "node:zlib";
import { ParallelZstdCompress } from "./parallel-zstd.js";
import { ZstdFramesDecompress } from "./zstd-frames.js";

export type Algorithm = "zstd" | "gzip" | "none";
export interface Compression {
  algorithm: Algorithm;
  level?: number;
  /** zstd as one streamed frame on one thread (the manifest: small in flight, text that packs well). */
  serial?: boolean;
}

export function parseCompression(spec: string): Compression {
  const [algorithm, level] = spec.split(":");
  return { algorithm: algorithm as Algorithm, ...(level ? { level: Number(level) } : {}) };
}

/** File-name extension of each algorithm, as the repository layout names objects (docs/format.md, "Layout"). */
export const EXTENSION: Record<Algorithm, string> = { zstd: ".zst", gzip: ".gz", none: "" };

export function algorithmFromKey(key: string): Algorithm {
  if (key.endsWith(".zst.age")) return "zstd";
  if (key.endsWith(".gz.age")) return "gzip";
  return "none";
}

export function createCompressor(c: Compression): Transform {
  switch (c.algorithm) {
    case "none":
      return new PassThrough();
    case "gzip":
      return zlib.createGzip({ level: c.level ?? 6 });
    case "zstd":
      return c.serial
        ? zlib.createZstdCompress({
            params: { [zlib.constants.ZSTD_c_compressionLevel]: c.level ?? DEFAULT_ZSTD_LEVEL },
          })
        : new ParallelZstdCompress(c.level ?? DEFAULT_ZSTD_LEVEL);
  }
}

/** `compression: zstd` without a level: 1, as `zstd -1`, fast on media that barely compresses (zstd:3 for more). */
export const DEFAULT_ZSTD_LEVEL = 1;

export function createDecompressor(algorithm: Algorithm): Transform {
  switch (algorithm) {
    case "none":
      return new PassThrough();
    case "gzip":
      return zlib.createGunzip();
    case "zstd":
      return new ZstdFramesDecompress();
  }
}
