// The npm registry reachable here answers 404 for native packages of other platforms, so
// `npm install` leaves them out of package-lock.json and `npm ci` then refuses the lock as
// "out of sync". This adds a lock entry (no tarball: npm ci skips other platforms) for every
// optional platform package a locked package declares but the lock lacks. Run after `npm install`.
import { readFileSync, writeFileSync } from "node:fs";

const OS = ["android", "darwin", "freebsd", "linux", "openbsd", "openharmony", "win32", "netbsd", "sunos", "aix"];
const CPU = {
  arm: "arm",
  arm64: "arm64",
  x64: "x64",
  ia32: "ia32",
  loong64: "loong64",
  ppc64: "ppc64",
  riscv64: "riscv64",
  s390x: "s390x",
};

const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] || !path.startsWith("node_modules/")) continue;
    const parts = name.split("/").pop().split("-");
    const os = parts.find((p) => OS.includes(p));
    const cpu = parts.map((p) => CPU[p]).find(Boolean);
    if (!os || !cpu) continue;
    const libc = parts.some((p) => p.startsWith("musl"))
      ? ["musl"]
      : os === "linux" && parts.some((p) => p.startsWith("gnu"))
        ? ["glibc"]
        : undefined;
    lock.packages[key] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      os: [os],
      cpu: [cpu],
      ...(libc ? { libc } : {}),
    };
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)),
);
writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
console.log(`lockfile: added ${added} other-platform entries`);
