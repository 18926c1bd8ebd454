/**
 * The V8 flags that strongbox sets for itself at start-up: heap-tuning.ts applies them, this module
 * only names them (a test imports the list without changing its own process's heap). V8 reads each
 * whenever it takes the decision the flag is about, so setting them once the process runs, before
 * the work allocates, takes effect (a flag that V8 reads only when it creates the heap would not).
 *
 * - `--semi-space-growth-factor=1` keeps the young generation from doubling itself up to its maximum
 *   (on a machine with a lot of RAM, ~100 MB of young space) while a backup, verify or restore
 *   streams a manifest of millions of entries: every object there lives for microseconds, so a
 *   larger young space only holds garbage. Measured on 2 million entries: peak RSS 323–346 MB by
 *   default, 238 MB with this; no change in the time of a media backup.
 * - `--incremental-marking-soft-trigger` and `--incremental-marking-hard-trigger` start a full
 *   collection's marking when a share of the room left under the heap's limit has been used (70 %:
 *   soon, from a task; 95 %: at once). By default V8 starts it whenever that room is smaller than
 *   the young generation's target size, and with strongbox's small heap (10–20 MB, the limit ~9 MB
 *   above it) that is true again right after every full collection, so a streaming backup or an S3
 *   restore marked the heap over and over: about 70 full collections at most in a 600 MB run (an
 *   S3 restore anywhere from 1 to 68, run to run); with these, 18–23 in that backup (each started
 *   by V8's check on every 64 MB of new buffer memory) and 1–6 in the restore. README,
 *   "Performance", has the figures, and the price: more garbage between two collections, so a
 *   higher peak RSS.
 */
export const V8_FLAGS = [
  "--semi-space-growth-factor=1",
  "--incremental-marking-soft-trigger=70",
  "--incremental-marking-hard-trigger=95",
] as const;
