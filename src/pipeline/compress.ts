import { createRequire } from "node:module";
import { PassThrough, type Transform } from "node:stream";
import zlib from "node:zlib";
import { StrongboxError } from "../errors.js";

export type Algorithm = "zstd" | "gzip" | "none";
export interface Compression {
  algorithm: Algorithm;
  level?: number;
}

export function parseCompression(spec: string): Compression {
  const [algorithm, level] = spec.split(":");
  return { algorithm: algorithm as Algorithm, ...(level ? { level: Number(level) } : {}) };
}

/** File-name extension of each algorithm, as the repository layout names objects (SPEC §3). */
export const EXTENSION: Record<Algorithm, string> = { zstd: ".zst", gzip: ".gz", none: "" };

export function algorithmFromKey(key: string): Algorithm {
  if (key.endsWith(".zst.age")) return "zstd";
  if (key.endsWith(".gz.age")) return "gzip";
  return "none";
}

type ZlibWithZstd = typeof zlib & {
  createZstdCompress?: (o?: object) => Transform;
  createZstdDecompress?: (o?: object) => Transform;
  constants: typeof zlib.constants & { ZSTD_c_compressionLevel?: number };
};
const z = zlib as ZlibWithZstd;

/** The part of the optional zstd-napi binding strongbox uses (typed here so builds never need it). */
interface ZstdNapi {
  CompressStream: new (o: { compressionLevel: number }) => Transform;
  DecompressStream: new () => Transform;
}

function zstdNapi(): ZstdNapi {
  try {
    return createRequire(import.meta.url)("zstd-napi");
  } catch {
    throw new StrongboxError("SOURCE", "zstd compression needs Node >= 22.15 or the zstd-napi package (npm ci); or set compression: gzip");
  }
}

export function createCompressor(c: Compression): Transform {
  switch (c.algorithm) {
    case "none":
      return new PassThrough();
    case "gzip":
      return zlib.createGzip({ level: c.level ?? 6 });
    case "zstd": {
      const level = c.level ?? 3;
      if (z.createZstdCompress && z.constants.ZSTD_c_compressionLevel !== undefined) {
        return z.createZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel]: level } });
      }
      return new (zstdNapi().CompressStream)({ compressionLevel: level });
    }
  }
}

export function createDecompressor(algorithm: Algorithm): Transform {
  switch (algorithm) {
    case "none":
      return new PassThrough();
    case "gzip":
      return zlib.createGunzip();
    case "zstd":
      if (z.createZstdDecompress) return z.createZstdDecompress();
      return new (zstdNapi().DecompressStream)();
  }
}
