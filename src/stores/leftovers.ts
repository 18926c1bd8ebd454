import { sweepOrphans, type LeftoverCount } from "../temp-names.js";

export const SPOOL_PREFIX = "strongbox-part-";

/** S3 multipart spool files (ciphertext parts) left in `dir` by killed runs: counted, and removed when asked. */
export const sweepSpool = (dir: string, o: { remove: boolean }): Promise<LeftoverCount> =>
  sweepOrphans(dir, SPOOL_PREFIX, "file", o);
