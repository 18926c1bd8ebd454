import { execSync } from "node:child_process";
import { tempDir } from "./cli.js";

/** Every tmpfs tinyDisk mounted and not yet unmounted. */
const mounts: string[] = [];

/** Can this process mount a tmpfs? (root in the suite's container; not everywhere: tests skip, saying so) */
export const canMount: boolean = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = tempDir("mount-probe");
  try {
    execSync(`mount -t tmpfs -o size=1m tmpfs '${probe}' && umount '${probe}'`, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** A fresh tmpfs of `size` (e.g. "5m"), with extra mount options (",ro" …); unmountTinyDisks() removes it. */
export function tinyDisk(size: string, opts = ""): string {
  const mnt = tempDir("tiny");
  execSync(`mount -t tmpfs -o size=${size}${opts} tmpfs '${mnt}'`);
  mounts.push(mnt);
  return mnt;
}

/** For afterEach/afterAll: unmounts every tiny disk. */
export function unmountTinyDisks(): void {
  for (const m of mounts.splice(0)) execSync(`umount '${m}'`);
}
