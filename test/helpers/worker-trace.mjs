// Loaded with `node --import` by test/e2e/startup-workers.test.ts: records every worker thread the
// process starts (its entry file) and, at exit, writes them to $STRONGBOX_WORKER_TRACE, one per line.
import { writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import worker_threads from "node:worker_threads";

const started = [];
const Original = worker_threads.Worker;
worker_threads.Worker = class extends Original {
  constructor(file, options) {
    started.push(String(file));
    super(file, options);
  }
};
// `import { Worker } from "node:worker_threads"` in the modules loaded after this one sees the class above.
syncBuiltinESMExports();
if (worker_threads.isMainThread)
  process.on("exit", () => writeFileSync(process.env.STRONGBOX_WORKER_TRACE, started.map((f) => `${f}\n`).join("")));
