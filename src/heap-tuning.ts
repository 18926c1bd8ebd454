import { setFlagsFromString } from "node:v8";

/**
 * Keeps V8's young generation from doubling itself up to its maximum (on a machine with a lot of
 * RAM, ~100 MB of young space) while a backup, verify or restore streams a manifest of millions of
 * entries: every object there lives for microseconds, so a larger young space only holds garbage.
 * Measured on 2 million entries: peak RSS 323–346 MB by default, 238 MB with this; no change in the
 * time of a media backup. The flag is read whenever V8 sizes the young space, so setting it at
 * start-up, before the work allocates, takes effect. Run first: bin/strongbox imports it (from the
 * bundle) before the CLI, and cli.ts imports it first for a run from dist/.
 */
setFlagsFromString("--semi-space-growth-factor=1");
