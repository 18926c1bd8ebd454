// Worker-thread entry for stream-jobs.ts: replies carry their output buffers as transfers, not copies,
// and a seal's raw frames go back the same way, to be filled again (block-pool.ts, FramePool).
import { parentPort } from "node:worker_threads";
import { RAW_FRAME } from "../codecs/block-pool.js";
import { pieces, runJob, type JobMessage, type JobReply } from "./stream-jobs.js";

parentPort!.on("message", (m: JobMessage) => {
  let reply: JobReply;
  try {
    reply = runJob(m);
  } catch (err) {
    reply = { seq: m.seq, out: new Uint8Array(0), failure: `internal error: ${(err as Error).message}` };
  }
  const transfer = new Set<ArrayBuffer>();
  for (const o of pieces(reply.out)) if (o.byteLength) transfer.add(o.buffer as ArrayBuffer);
  if (m.op === "seal" && !reply.failure) {
    // Sealed: nothing here reads the input again, and the transfer detaches it here.
    const back = [...new Set(m.bufs.map((b) => b.buffer))].filter(
      (ab): ab is ArrayBuffer => ab instanceof ArrayBuffer && ab.byteLength === RAW_FRAME && !transfer.has(ab),
    );
    if (back.length) {
      reply.back = back;
      back.forEach((ab) => transfer.add(ab));
    }
  }
  parentPort!.postMessage(reply, [...transfer]);
});
