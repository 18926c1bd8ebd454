// Worker-thread entry for stream-jobs.ts: replies carry their output buffer as a transfer, not a copy.
import { parentPort } from "node:worker_threads";
import { runJob, type JobMessage, type JobReply } from "./stream-jobs.js";

parentPort!.on("message", (m: JobMessage) => {
  let reply: JobReply;
  try {
    reply = runJob(m);
  } catch (err) {
    reply = { seq: m.seq, out: new Uint8Array(0), failure: `internal error: ${(err as Error).message}` };
  }
  parentPort!.postMessage(reply, reply.out.byteLength ? [reply.out.buffer as ArrayBuffer] : []);
});
