// Loaded with `node --import` by test/e2e/startup-imports.test.ts: records every module the process
// loads (its URL) and, at exit, writes them to $STRONGBOX_MODULE_TRACE, one per line. Worker threads
// run this too; only the main thread writes.
import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { isMainThread } from "node:worker_threads";

const seen = new Set();
registerHooks({
  load(url, context, next) {
    seen.add(url);
    return next(url, context);
  },
});
if (isMainThread)
  process.on("exit", () => appendFileSync(process.env.STRONGBOX_MODULE_TRACE, [...seen].join("\n") + "\n"));
