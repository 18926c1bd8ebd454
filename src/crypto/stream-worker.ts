// Worker-thread entry for stream-jobs.ts: replies carry their output buffer as a transfer, not a copy.
import { parentPort } from "node:worker_threads";
import { StreamJobs, type JobMessage } from "./stream-jobs.js";

const jobs = new StreamJobs();
parentPort!.on("message", (m: JobMessage) => {
  const reply = jobs.handle(m);
  if (reply) parentPort!.postMessage(reply, reply.out && reply.out.byteLength ? [reply.out.buffer as ArrayBuffer] : []);
});
