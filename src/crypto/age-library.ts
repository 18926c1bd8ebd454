// The age reference library (`age-encryption`), loaded on first use rather than at start-up: with its
// post-quantum and curve modules it is about 60 modules, most of a command's start-up time, and the
// commands that only encrypt to X25519 recipients (wal push, backup) do not need it (age-x25519.ts).
import { createRequire } from "node:module";

type AgeLibrary = typeof import("age-encryption");
let library: AgeLibrary | undefined;

/** The library, loaded synchronously (require of an ES module) the first time a caller needs it. */
export function ageLibrary(): AgeLibrary {
  return (library ??= createRequire(import.meta.url)("age-encryption") as AgeLibrary);
}
