import { createHash } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  chmodSync,
} from "node:fs";
import { join } from "node:path";

export interface TreeRecord {
  type: string;
  mode: number;
  size: number;
  mtimeMs: number;
  sha256?: string;
  target?: string;
}

/** Everything about a tree that a restore must reproduce: paths, types, modes, mtimes, content. */
export function snapshotTree(root: string, mtimePrecisionMs = 1): Record<string, TreeRecord> {
  const out: Record<string, TreeRecord> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const base = { mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs / mtimePrecisionMs) * mtimePrecisionMs };
      if (st.isDirectory()) {
        out[r] = { type: "dir", size: 0, ...base };
        walk(r);
      } else if (st.isSymbolicLink()) {
        out[r] = { type: "symlink", size: 0, ...base, target: readlinkSync(join(root, r)) };
      } else {
        out[r] = {
          type: "file",
          size: st.size,
          ...base,
          sha256: createHash("sha256")
            .update(readFileSync(join(root, r)))
            .digest("hex"),
        };
      }
    }
  };
  walk("");
  return out;
}

/** A small tree with the awkward cases: empty dir, symlinks, unicode and spaces, modes, old mtimes. */
export function makeSampleTree(root: string): void {
  mkdirSync(join(root, "projects/show one/rundowns"), { recursive: true });
  mkdirSync(join(root, "ASSETS/empty dir"), { recursive: true });
  mkdirSync(join(root, "ASSETS/ünïcødé ✓"), { recursive: true });
  writeFileSync(join(root, "projects/show one/rundowns/rundown.json"), JSON.stringify({ items: [1, 2, 3] }));
  writeFileSync(join(root, "ASSETS/ünïcødé ✓/grafik ä.png"), Buffer.alloc(70_000, 7));
  writeFileSync(join(root, "ASSETS/script.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(join(root, "ASSETS/script.sh"), 0o750);
  writeFileSync(join(root, "ASSETS/private.key"), "secret-ish\n");
  chmodSync(join(root, "ASSETS/private.key"), 0o600);
  writeFileSync(join(root, "ASSETS/skip.tmp"), "excluded\n");
  const long = "n".repeat(120);
  mkdirSync(join(root, `deep/${long}`), { recursive: true });
  writeFileSync(join(root, `deep/${long}/${"f".repeat(150)}.txt`), "long path\n");
  symlinkSync("../projects/show one", join(root, "ASSETS/link-to-show"));
  symlinkSync("/nonexistent/absolute/target", join(root, "ASSETS/dangling"));
  utimesSync(
    join(root, "projects/show one/rundowns/rundown.json"),
    new Date("2001-02-03T04:05:06.789Z"),
    new Date("2001-02-03T04:05:06.789Z"),
  );
  utimesSync(join(root, "ASSETS/empty dir"), new Date("2010-01-01T00:00:00Z"), new Date("2010-01-01T00:00:00Z"));
}
