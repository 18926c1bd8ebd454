import { setFlagsFromString } from "node:v8";
import { V8_FLAGS } from "./v8-flags.js";

/**
 * Sets strongbox's V8 flags (v8-flags.ts says what each does and why). Run first: bin/strongbox
 * imports it (from the bundle) before the CLI, and cli.ts imports it first for a run from dist/. The
 * flags are the process's, so the worker threads have them too.
 */
for (const flag of V8_FLAGS) setFlagsFromString(flag);
