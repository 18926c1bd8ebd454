// file:// repository URLs are read in one place (src/config/file-url.ts): the config's repository.url,
// copy --to, the lock's identity and doctor all take this reading. Each input with its exact result.
import { describe, expect, it } from "vitest";
import { fileUrlOf, fileUrlPath, isFileUrl, parseFileUrl } from "../../src/config/file-url.js";
import { parseConfig } from "../../src/config/load.js";
import { generateIdentity } from "../../src/crypto/age-keys.js";
import { repositoryIdentity } from "../../src/repository/lock.js";

const TABLE: [string, { path: string } | { problem: RegExp }][] = [
  ["file:///srv/backup", { path: "/srv/backup" }],
  ["file:///srv/backup/", { path: "/srv/backup" }],
  ["file:///srv/backup///", { path: "/srv/backup" }],
  ["file:///srv//backup/./x/..", { path: "/srv/backup" }],
  ["file://localhost/srv/backup", { path: "/srv/backup" }],
  ["FILE://LOCALHOST/srv/backup", { path: "/srv/backup" }],
  ["file:///srv/my%20backup", { path: "/srv/my backup" }],
  ["file:///srv/100%25", { path: "/srv/100%" }],
  ["file:///srv/caf%C3%A9", { path: "/srv/café" }],
  ["file:///srv/a b", { path: "/srv/a b" }],
  // new URL() reads a host here and drops it: these would have written to /backup and /x.
  ["file://./backup", { problem: /names host "\.": a file:\/\/ URL takes an absolute local path/ }],
  ["file://relative/x", { problem: /names host "relative"/ }],
  ["file://server/share", { problem: /names host "server"/ }],
  ["file://", { problem: /^has no path/ }],
  ["file:///", { problem: /names the root directory/ }],
  ["file:////", { problem: /names the root directory/ }],
  ["file:relative/x", { problem: /^not a file:\/\/ URL/ }],
  ["file:/abs", { problem: /^not a file:\/\/ URL/ }],
  ["file:///srv/a?b", { problem: /query or fragment/ }],
  ["file:///srv/a#b", { problem: /query or fragment/ }],
  ["file:///srv/a%zz", { problem: /bad percent-encoding/ }],
  ["file:///srv/a%", { problem: /bad percent-encoding/ }],
  ["file:///srv/a%00b", { problem: /NUL byte/ }],
  ["", { problem: /^not a file:\/\/ URL/ }],
];

describe("file:// URLs, read in one place", () => {
  it.each(TABLE)("%s", (url, want) => {
    const got = parseFileUrl(url);
    if ("path" in want) expect(got).toEqual(want);
    else expect("problem" in got && got.problem).toMatch(want.problem);
  });

  it("a refused URL is one line naming the URL and the setting, with the caller's exit code", () => {
    expect(() => fileUrlPath("file://./backup", "USAGE", "copy --to")).toThrow(
      expect.objectContaining({
        code: "USAGE",
        message: expect.stringMatching(/^copy --to "file:\/\/\.\/backup": names host/),
      }),
    );
    expect(() => fileUrlPath("file:///a%zz")).toThrow(
      expect.objectContaining({
        code: "CONFIG",
        message: expect.stringMatching(/^repository\.url "file:\/\/\/a%zz": has bad percent-encoding/),
      }),
    );
  });

  it("the config schema refuses what the reader refuses, and takes what it takes", () => {
    const recipients = [generateIdentity().recipient];
    const config = (url: string) =>
      JSON.stringify({
        version: 1,
        repository: { url },
        encryption: { recipients },
        sources: [{ name: "f", type: "files", path: "/srv/f" }],
      });
    const problem = (url: string) => {
      try {
        parseConfig(config(url), {});
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(problem("file://localhost/srv/b")).toBeUndefined();
    expect(problem("file:///srv/b")).toBeUndefined();
    expect(problem("file:///srv/b?x")).toMatch(/repository\.url: url has a query or fragment/);
    expect(problem("file://./srv")).toMatch(/repository\.url: url names host "\."/);
    expect(problem("ftp://host/x")).toMatch(/repository\.url: url must be s3:\/\//);
  });

  it("one lock however the URL is spelled: encoded, with localhost, with trailing slashes", () => {
    const id = repositoryIdentity("file:///tmp/strongbox-no-such/my%20repo/");
    expect(repositoryIdentity("file://localhost/tmp/strongbox-no-such/my repo")).toBe(id);
    expect(repositoryIdentity("file:///tmp/strongbox-no-such//my%20repo")).toBe(id);
  });

  it("init's URL of a directory reads back as that directory, whatever its name holds", () => {
    for (const dir of ["/tmp/a b", "/tmp/100%", "/tmp/q?x#y", "/tmp/café"]) {
      expect(isFileUrl(fileUrlOf(dir))).toBe(true);
      expect(parseFileUrl(fileUrlOf(dir))).toEqual({ path: dir });
    }
  });
});
