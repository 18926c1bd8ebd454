import { createReadStream } from "node:fs";
import { PassThrough, type Readable } from "node:stream";
import { stallError } from "./s3-client.js";

export interface WatchedUpload {
  body: Readable;
  /** Pass to the request: aborted when the caller aborts or when the body stops moving. */
  signal: AbortSignal;
  /** The error to report for a failed attempt: the stall, if that is what ended it. */
  reason(err: unknown): unknown;
  /** Ends the attempt: stops the watchdog and tears down whatever of the request is left. */
  stop(): void;
}

/**
 * The spool is read back in 256 KiB reads, not the default 64 KiB: every read is a fresh buffer, and
 * 64 KiB reads of a 600 MB upload were ~9,400 buffers whose garbage drove V8 into ~80 full
 * collections. 1 MiB reads had gone further (a 600 MB media backup to Ceph RGW on this machine:
 * 7.5–8.4 s → 6.4–7.4 s, peak RSS 208 → 236 MB), but since V8 starts its markings by share of the
 * room left (v8-flags.ts) the number of buffers no longer sets the number of collections: with
 * 256 KiB reads the same backup took as long as with 1 MiB (6.21–6.71 s against 6.25–6.53 s, three runs
 * each) at a peak RSS of 244–259 MB against 278–286 MB (README, "Performance"). Other runs with
 * 256 KiB reads peaked higher (275 MB; 280 MB on one core): the garbage between two collections,
 * not the read size, sets most of the peak.
 */
const SPOOL_READ = 256 * 1024;

/**
 * A spooled part as a request body with a progress watchdog: when the server stops taking bytes for
 * idleMs, the request is aborted with an error naming the object (the socket's own idle timeout
 * is the second line of defence).
 */
export function watchedUpload(path: string, what: string, idleMs: number, outer?: AbortSignal): WatchedUpload {
  const ctrl = new AbortController();
  const stall = stallError(what, idleMs);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(stall), idleMs);
  };
  const stop = () => clearTimeout(timer);
  const body = new PassThrough({
    transform(chunk, _enc, cb) {
      arm();
      cb(null, chunk);
    },
  });
  body.once("end", stop).once("close", stop);
  const file = createReadStream(path, { highWaterMark: SPOOL_READ });
  file.once("error", (e) => body.destroy(e));
  file.pipe(body);
  // From the moment the request starts to consume the body: signing and connecting come before (connect timeout).
  body.once("resume", arm);
  return {
    body,
    signal: outer ? AbortSignal.any([outer, ctrl.signal]) : ctrl.signal,
    reason: (err) => (ctrl.signal.aborted && !outer?.aborted ? stall : err),
    stop: () => {
      stop();
      file.destroy();
      body.destroy();
      // A server that answered early (403, 5xx) may have stopped reading: tear the request down, or its
      // half-sent body keeps the socket, and the process, alive until the idle timeout.
      if (!ctrl.signal.aborted) ctrl.abort(new Error("upload attempt over"));
    },
  };
}
