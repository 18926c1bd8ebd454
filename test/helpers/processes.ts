import { execSync } from "node:child_process";

/** The processes whose command line matches `pattern` (pgrep -f, an extended regex), one per line; "" when none. */
export function processesMatching(pattern: string): string {
  return execSync(`pgrep -f -- '${pattern}' || true`).toString().trim();
}

/** The processes matching `pattern` still alive after up to 10 s (one told to stop may take a moment to go). */
export async function processesLeft(pattern: string): Promise<string> {
  let left = "";
  for (let i = 0; i < 40; i++) {
    left = processesMatching(pattern);
    if (!left) return "";
    await new Promise((r) => setTimeout(r, 250));
  }
  return left;
}
