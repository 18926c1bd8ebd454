// Issue 25: `strongbox ui` on a host with the identity browses a backup's tree (a page per directory,
// paged) and downloads one file through dump's checks; without the identity it says so and the routes
// answer 403. Every name from the repository is escaped on every page, including drill checks.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparePaths } from "../../src/archive/path-order.js";
import { PAGE_ENTRIES } from "../../src/scheduler/status-browse.js";
import { BIN, makeRepo, tempDir, type TestRepo } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { fileManifestEntry as entry, forgeBackup } from "../helpers/forge.js";
import { archive, fileEntry } from "../helpers/tar-craft.js";
import { until } from "../helpers/until.js";
import { freePort } from "../helpers/free-port.js";

/** A file name (so no "/") that is markup, quotes and a right-to-left override. */
const HOSTILE = `<img src=x onerror=alert(1)>"'\u202egnp.exe`;

/** The access token every test but one gives: browsing serves decrypted files, so it needs one, also on loopback. */
const TOKEN = "ui-browse-test-token-0123456789";

/** fetch with the test's token. */
function authed(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${TOKEN}` },
  });
}

/** Starts `strongbox ui` on a free loopback port (with --token-file unless `token` is false); resolves once it answers. */
async function startUi(config: string, token = true) {
  const port = await freePort(); // the kernel's pick: never a port an outgoing connection holds
  const tokenArgs: string[] = [];
  if (token) {
    const file = join(tempDir("uib-token"), "token");
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    tokenArgs.push("--token-file", file);
  }
  const child = spawn(process.execPath, [BIN, "-c", config, "ui", "--listen", `127.0.0.1:${port}`, ...tokenArgs], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  await until(
    () => authed(`${base}/`).then((r) => r.ok),
    60_000,
    () => `strongbox ui to answer on ${base}; its log ends: ${log.trim().split("\n").slice(-10).join(" | ")}`,
  );
  return {
    base,
    pid: child.pid!,
    log: () => log,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** No markup from the repository: only the page's own tags, and never a raw bidi override. */
function expectEscaped(html: string) {
  expect(html).not.toContain("<img");
  expect(html).not.toContain("\u202e");
  expect(html).not.toMatch(
    /<(?!\/?(?:!doctype|html|head|body|meta|title|style|h1|h2|p|a|table|tr|th|td|span|ul|li|br|b|figure|figcaption|svg|polyline)\b)/,
  );
}

/** Names a forger may write into a manifest: markup, quotes, a newline, bidi controls, an overlong one. */
const NAMES = [
  `<img src=x onerror=alert(3)>`,
  `"quoted" 'single' &amp; <`,
  "line1\nline2\r\t",
  "\u202eevil\u2066txt.exe",
  "javascript:alert(1)",
  "n".repeat(3000),
];

const rowsOf = (html: string) => (html.match(/<tr><td>/g) ?? []).length;

describe("strongbox ui: browse and download", () => {
  let repo: TestRepo;
  let ui: Awaited<ReturnType<typeof startUi>>;
  let real: string;
  const ids: Record<string, string> = {};
  const store = () => join(repo.dir, "repository");

  beforeAll(async () => {
    const data = tempDir("uib-data");
    writeFileSync(join(data, "a.txt"), "a".repeat(3000));
    mkdirSync(join(data, "sub"));
    writeFileSync(join(data, "sub", "b.bin"), Buffer.alloc(70_000, 7));
    writeFileSync(join(data, "sub", HOSTILE), "hostile\n");
    repo = makeRepo({ sources: [{ name: "docs", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code, b.stderr).toBe(0);
    real = JSON.parse(b.stdout).id;
    expect((await runCli(["-c", repo.configFile, "drill", "latest"])).code).toBe(0);

    // A file whose archived bytes do not match the manifest's SHA-256.
    const body = Buffer.alloc(8_000_000, 0x61);
    const lie = Buffer.from(body);
    lie[lie.length - 1] = 0x62;
    ids.lie = await forgeBackup(store(), repo.recipient, {
      files: { assets: { tar: archive(fileEntry("big.bin", lie)), entries: [entry("big.bin", body)] } },
    });
    // A file whose archived body is longer than the manifest's size (and so than Content-Length).
    ids.long = await forgeBackup(store(), repo.recipient, {
      files: {
        assets: {
          tar: archive(fileEntry("run.sh", Buffer.concat([Buffer.from("PAYLOAD\n"), Buffer.alloc(3 << 20, 0x23)]))),
          entries: [entry("run.sh", Buffer.from("echo real\n"))],
        },
      },
    });
    // A manifest entry that escapes the source's root.
    const x = Buffer.from("owned\n");
    ids.escape = await forgeBackup(store(), repo.recipient, {
      files: { assets: { tar: archive(fileEntry("x", x)), entries: [entry("x", x)] } },
      manifest: (m) => (m.sources.assets.entries[0].path = "../../etc/x"),
    });
    // One directory of many entries (the archive need not hold them: browsing reads the manifest only).
    const names = Array.from({ length: 20_000 }, (_, i) => `f${String(i).padStart(6, "0")}.txt`).sort(comparePaths);
    ids.huge = await forgeBackup(store(), repo.recipient, {
      files: { assets: { tar: archive(), entries: names.map((n) => entry(n, x)) } },
    });
    // Hostile names in a manifest (browsing reads the manifest only: the archive need not hold them).
    ids.names = await forgeBackup(store(), repo.recipient, {
      files: { assets: { tar: archive(), entries: [...NAMES].sort(comparePaths).map((n) => entry(n, x)) } },
    });
    // A hostile source name: complete.json is refused, and the page shows why (an error text).
    ids.damaged = await forgeBackup(store(), repo.recipient, {
      files: { assets: { tar: archive(fileEntry("x", x)), entries: [entry("x", x)] } },
      complete: (c) => (c.sources[0].name = `<img src=x onerror=alert(2)>`),
    });
    // A drill report whose check names and details are hostile.
    const drillId = "20991231T000000Z-abcdef";
    writeFileSync(
      join(store(), "drills", `${drillId}.json`),
      JSON.stringify({
        format: "strongbox/1 drill",
        drill_id: drillId,
        backup_id: ids.huge,
        result: "fail",
        finished_at: new Date().toISOString(),
        checks: [{ name: HOSTILE, ok: false, detail: `${HOSTILE}\nsecond line` }],
      }),
    );
    ui = await startUi(repo.configFile);
  }, 120_000);

  afterAll(async () => {
    expect(await ui?.stop(), ui?.log()).toBe(0);
  });

  it("the page shows each drill check (name, pass/fail, value) and links every backup to its tree", async () => {
    const html = await (await authed(`${ui.base}/`)).text();
    expect(html).toMatch(/<li><span class="ok">ok<\/span> docs: files match the manifest/);
    expect(html).toContain(
      `<span class="bad">FAIL</span> &#60;img src=x onerror=alert(1)&#62;&#34;&#39;\ufffdgnp.exe: `,
    );
    expect(html).toContain(`<a href="/browse?id=${real}">backup ${real}</a>`);
    expectEscaped(html);
  });

  it("browses a directory and downloads a file: the bytes are the file's, as an attachment", async () => {
    const root = await authed(`${ui.base}/browse?id=${real}&source=docs`);
    expect(root.status).toBe(200);
    expect(root.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
    const html = await root.text();
    expect(html).toContain(`<a href="/download?id=${real}&#38;source=docs&#38;path=a.txt">a.txt</a>`);
    expect(html).toContain(`<a href="/browse?id=${real}&#38;source=docs&#38;path=sub">sub/</a>`);
    const sub = await (await authed(`${ui.base}/browse?id=${real}&source=docs&path=sub`)).text();
    expectEscaped(sub);
    expect(sub).toContain(`path=sub%2F${encodeURIComponent(HOSTILE).replace(/'/g, "&#39;")}`);

    const file = await authed(`${ui.base}/download?id=${real}&source=docs&path=sub/b.bin`);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("application/octet-stream");
    expect(file.headers.get("x-content-type-options")).toBe("nosniff");
    expect(file.headers.get("content-disposition")).toBe(`attachment; filename="b.bin"; filename*=UTF-8''b.bin`);
    expect(Buffer.from(await file.arrayBuffer()).equals(Buffer.alloc(70_000, 7))).toBe(true);

    const odd = await authed(`${ui.base}/download?id=${real}&source=docs&path=${encodeURIComponent(`sub/${HOSTILE}`)}`);
    expect(odd.status).toBe(200);
    const disposition = odd.headers.get("content-disposition")!;
    expect(disposition).toMatch(/^attachment; filename="[A-Za-z0-9._ -]+"; filename\*=UTF-8''[A-Za-z0-9%._~-]+$/);
    expect(await odd.text()).toBe("hostile\n");
  });

  it("a file whose archived body is longer than the manifest's size: an error page, none of its bytes", async () => {
    const r = await authed(`${ui.base}/download?id=${ids.long}&source=assets&path=run.sh`);
    const text = await r.text();
    expect(r.status).not.toBe(200);
    expect(text).not.toContain("PAYLOAD");
    expect(text).toMatch(/does not match the manifest's \(10 bytes/);
  });

  it("refuses what the manifest does not hold, '..', other methods and foreign Host headers", async () => {
    const get = (q: string, init?: RequestInit) => authed(`${ui.base}${q}`, init);
    expect((await get(`/download?id=${real}&source=docs&path=nope.txt`)).status).toBe(404);
    expect((await get(`/download?id=${real}&source=docs&path=../a.txt`)).status).toBe(400);
    expect((await get(`/download?id=${real}&source=docs&path=sub`)).status).toBe(400);
    expect((await get(`/browse?id=${real}&source=docs&path=a.txt`)).status).toBe(400);
    expect((await get(`/browse?id=latest`)).status).toBe(400);
    expect((await get(`/download?id=${real}&source=docs&path=a.txt`, { method: "POST" })).status).toBe(405);
    expect((await get(`/download?id=${real}&source=docs&path=a.txt`, { method: "HEAD" })).status).toBe(405);
    // Without the token nothing is served (a page under another name, DNS rebinding, never has it:
    // a browser sends credentials for 127.0.0.1 only to 127.0.0.1).
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) =>
      request(`${ui.base}/download?id=${real}&source=docs&path=a.txt`, { headers: { host: "evil.example" } }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      })
        .on("error", reject)
        .end(),
    );
    expect(status).toBe(401);
    expect((await fetch(`${ui.base}/download?id=${real}&source=docs&path=a.txt`)).status).toBe(401);
  });

  it("a forged manifest whose path escapes cannot be browsed or downloaded: one line naming the object", async () => {
    for (const q of [`/browse?id=${ids.escape}&source=assets`, `/download?id=${ids.escape}&source=assets&path=x`]) {
      const r = await authed(`${ui.base}${q}`);
      expect(r.status).toBe(502);
      const text = await r.text();
      expect(text).toMatch(/unsafe path/);
      expect(text).toContain(`backups/${ids.escape}/manifest.json.age`);
      expect(text).not.toContain("owned");
    }
  });

  it("a file that does not match its SHA-256: the response ends short of its Content-Length, never complete", async () => {
    const r = await authed(`${ui.base}/download?id=${ids.lie}&source=assets&path=big.bin`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe("8000000");
    let got = 0;
    const reader = r.body!.getReader();
    const failure = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        got += value.length;
      }
    })().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(Error);
    expect(got).toBeLessThan(8_000_000);
    await until(() => ui.log().includes("withheld"));
  });

  it("hostile names in paths, source names, query parameters and error texts are escaped on every page", async () => {
    const main = await (await authed(`${ui.base}/`)).text();
    expectEscaped(main);
    expect(main).toContain("onerror=alert(2)"); // the damaged backup's error text is shown, as text
    const listing = await authed(`${ui.base}/browse?id=${ids.names}&source=assets`);
    expect(listing.status).toBe(200);
    const html = await listing.text();
    expectEscaped(html);
    expect(rowsOf(html)).toBe(NAMES.length);
    expect(html).toContain("&#60;img src=x onerror=alert(3)&#62;");
    expect(html).toContain("&#34;quoted&#34; &#39;single&#39; &#38;amp; &#60;");
    expect(html).toContain(String.raw`line1\nline2\r\t`);
    expect(html).toContain("\ufffdevil\ufffdtxt.exe");
    expect(html).toContain("n".repeat(3000));
    // Each name links to its download with the name URL-encoded: no quote or newline reaches an attribute.
    for (const href of html.match(/href="[^"]*"/g)!)
      expect(href).toMatch(/^href="\/[a-z]*(\?[A-Za-z0-9%&#;=._~*()!'-]*)?"$/);
    expect(html).toContain(`path=${encodeURIComponent(NAMES[2])}`);
    // The archive does not hold them: the download is refused before a byte, with an escaped error.
    const got = await authed(`${ui.base}/download?id=${ids.names}&source=assets&path=${encodeURIComponent(NAMES[0])}`);
    expect(got.status).toBe(502);
    expect(got.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(got.headers.get("x-content-type-options")).toBe("nosniff");
    // A hostile source name or path in the query: refused with the name escaped.
    for (const q of [
      `/browse?id=${real}&source=${encodeURIComponent(NAMES[0])}`,
      `/browse?id=${real}&source=docs&path=${encodeURIComponent(NAMES[3])}`,
      `/browse?id=${ids.damaged}`,
    ]) {
      const r = await authed(`${ui.base}${q}`);
      expect(r.status).toBeGreaterThanOrEqual(400);
      const page = await r.text();
      expectEscaped(page);
      expect(page).toMatch(/alert|evil|source name/);
    }
  });

  it(`a directory of 20,000 entries: pages of ${PAGE_ENTRIES}, memory bounded`, async () => {
    const first = await (await authed(`${ui.base}/browse?id=${ids.huge}&source=assets`)).text();
    expect(rowsOf(first)).toBe(PAGE_ENTRIES);
    expect(first).toContain("f000000.txt");
    expect(first).toContain(`page=2">next page</a>`);
    const last = await (await authed(`${ui.base}/browse?id=${ids.huge}&source=assets&page=100`)).text();
    expect(rowsOf(last)).toBe(PAGE_ENTRIES);
    expect(last).toContain("f019999.txt");
    expect(last).not.toContain("next page");
    const beyond = await (await authed(`${ui.base}/browse?id=${ids.huge}&source=assets&page=101`)).text();
    expect(rowsOf(beyond)).toBe(0);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${ui.pid}/status`, "utf8"))![1]) * 1024;
    console.log(`ui peak RSS after browsing 20,000 entries: ${(hwm / 1e6).toFixed(0)} MB`);
    expect(hwm).toBeLessThan(300e6);
  });
});

describe("strongbox ui without the identity", () => {
  it("says browsing needs the identity; the routes answer 403", async () => {
    const data = tempDir("uib-noid");
    writeFileSync(join(data, "a.txt"), "a");
    const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const ui = await startUi(repo.write((c) => delete c.encryption.identity_file));
    try {
      const html = await (await authed(`${ui.base}/`)).text();
      expect(html).toContain("Browsing backups needs the identity");
      expect(html).not.toContain(`href="/browse`);
      for (const q of [`/browse?id=${id}&source=docs`, `/download?id=${id}&source=docs&path=a.txt`]) {
        const r = await authed(`${ui.base}${q}`);
        expect(r.status).toBe(403);
        expect(await r.text()).toMatch(/needs the identity/);
      }
    } finally {
      expect(await ui.stop()).toBe(0);
    }
  });

  it("with the identity but no --token-file (loopback): browsing is off, since every local user reaches the port", async () => {
    const data = tempDir("uib-notoken");
    writeFileSync(join(data, "secret.txt"), "only root may read this");
    const repo = makeRepo({ sources: [{ name: "docs", type: "files", path: data }] });
    const b = await runCli(["-c", repo.configFile, "--json", "backup", "now"]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout).id;
    const ui = await startUi(repo.configFile, false);
    try {
      const html = await (await fetch(`${ui.base}/`)).text();
      expect(html).toContain("needs --token-file, also on 127.0.0.1");
      expect(html).not.toContain(`href="/browse`);
      for (const q of [`/browse?id=${id}&source=docs`, `/download?id=${id}&source=docs&path=secret.txt`]) {
        const r = await fetch(`${ui.base}${q}`);
        expect(r.status).toBe(403);
        const text = await r.text();
        expect(text).toMatch(/needs --token-file/);
        expect(text).not.toContain("only root may read this");
      }
    } finally {
      expect(await ui.stop()).toBe(0);
    }
  });
});
