// Issue 22 item 17: each system error is one sentence: the problem in words, the code in
// parentheses, what was being done and to what; never Node's "CODE: text, syscall" nor "CODE: CODE:".
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeError, wrapError } from "../../src/errors.js";
import { describeSystemError, isSystemError } from "../../src/system-error.js";
import { tempDir } from "../helpers/cli.js";

/** An error as Node makes it (uvException): "CODE: text, syscall 'path'". */
function sys(code: string, syscall: string, path?: string, text = "text"): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${text}, ${syscall}${path ? ` '${path}'` : ""}`), {
    code,
    syscall,
    errno: -1,
    ...(path ? { path } : {}),
  });
}

describe("describeSystemError", () => {
  const cases: [string, NodeJS.ErrnoException, Parameters<typeof describeSystemError>[1], string][] = [
    [
      "ENOSPC on a write (no path in the error)",
      sys("ENOSPC", "write", undefined, "no space left on device"),
      { path: "/repo/backups/x/db.dump.zst.age" },
      "disk full (ENOSPC) writing /repo/backups/x/db.dump.zst.age",
    ],
    [
      "EACCES on mkdir",
      sys("EACCES", "mkdir", "/x/y", "permission denied"),
      {},
      "permission denied (EACCES) creating /x/y",
    ],
    [
      "EACCES on lstat",
      sys("EACCES", "lstat", "/x/y", "permission denied"),
      {},
      "permission denied (EACCES) examining /x/y",
    ],
    [
      "EROFS on open",
      sys("EROFS", "open", "/mnt/ro/f", "read-only file system"),
      {},
      "read-only file system (EROFS) opening /mnt/ro/f",
    ],
    [
      "EMFILE on open",
      sys("EMFILE", "open", "/data/f", "too many open files"),
      {},
      "too many open files in this process (raise its limit: ulimit -n, or LimitNOFILE= in the unit) (EMFILE) opening /data/f",
    ],
    [
      "EDQUOT on a write",
      sys("EDQUOT", "write"),
      { path: "/home/u/f" },
      "disk quota exceeded (EDQUOT) writing /home/u/f",
    ],
    [
      "EIO on a read",
      sys("EIO", "read"),
      { path: "/nfs/f" },
      "input/output error (a failing disk or a lost network mount) (EIO) reading /nfs/f",
    ],
    [
      "a rename names both ends",
      Object.assign(sys("EXDEV", "rename", "/a"), { dest: "/b" }),
      {},
      "on another file system (EXDEV) renaming /a to /b",
    ],
    [
      "an unknown code keeps Node's words",
      sys("ESTALE", "open", "/nfs/f", "stale file handle"),
      {},
      "stale file handle (ESTALE) opening /nfs/f",
    ],
  ];
  it.each(cases)("%s", (_label, err, o, want) => {
    expect(describeSystemError(err, o)).toBe(want);
  });

  it("network errors: 'cannot connect to X: reason (CODE)', with the hint for EPROTO", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), {
      code: "ECONNREFUSED",
      syscall: "connect",
      address: "127.0.0.1",
      port: 9,
    });
    expect(describeSystemError(refused)).toBe("cannot connect to 127.0.0.1:9: connection refused (ECONNREFUSED)");
    const proto = Object.assign(
      new Error("write EPROTO 40E7…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number"),
      { code: "EPROTO", syscall: "write" },
    );
    expect(describeSystemError(proto, { endpoint: "https://127.0.0.1:7480" })).toBe(
      "cannot connect to https://127.0.0.1:7480: the endpoint does not speak TLS (EPROTO) — is it http?",
    );
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" });
    expect(describeSystemError(reset, { endpoint: "https://s3.example" })).toBe(
      "the connection to https://s3.example failed: connection reset by the other end (ECONNRESET)",
    );
  });

  it("describeError (errors.ts) uses it: a real ENOENT and EEXIST, once each code, never doubled", () => {
    const dir = tempDir("syserr");
    try {
      mkdirSync(join(dir, "a", "b"));
    } catch (err) {
      expect(describeError(err)).toBe(`no such file or directory (ENOENT) creating ${join(dir, "a", "b")}`);
    }
    try {
      mkdirSync(dir);
    } catch (err) {
      const msg = wrapError(err, "STORE", "making the lock directory").message;
      expect(msg).toBe(`making the lock directory: already exists (EEXIST) creating ${dir}`);
      expect(msg).not.toMatch(/(E[A-Z]+): \1/);
    }
    expect.assertions(3);
  });

  it("Node's own ERR_ codes are not system errors", () => {
    expect(isSystemError(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }))).toBe(
      false,
    );
    expect(describeError(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }))).toBe(
      "ERR_STREAM_PREMATURE_CLOSE: Premature close",
    );
  });
});
