import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";

const root = new URL("../../", import.meta.url).pathname;
const doc = readFileSync(join(root, "docs/point-in-time-recovery.md"), "utf8");
const section = doc.slice(doc.indexOf("## Restoring a cluster by hand"));

/** docs/point-in-time-recovery.md, "Restoring a cluster by hand": its sh blocks (the base; the shell restore_command). */
export const handBlocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

/** Sets the first `NAME=value` line of a block to the given values; each must be there. */
export function fill(block: string, values: Record<string, string>): string {
  let out = block;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^${name}=\\S+`, "m");
    expect(out, `the block sets ${name}`).toMatch(re);
    out = out.replace(re, `${name}='${value}'`);
  }
  return out;
}
