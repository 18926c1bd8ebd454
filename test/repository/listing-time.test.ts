// Repository.listBackups judges each complete backup's claimed time by the store's time for its
// complete.json, counts keys that name no valid backup id, and resolve("latest") skips untrusted ones.
import { describe, expect, it } from "vitest";
import { notCounted, Repository } from "../../src/repository/repository.js";
import type { Store } from "../../src/stores/store.js";
import { MemoryStore as BaseMemoryStore } from "../helpers/memory-store.js";

/** The in-memory store, with a way to put a well-formed backup dated as a test needs. */
class MemoryStore extends BaseMemoryStore {
  /** A well-formed backup that claims `claimed` and was stored at `storedAt`. */
  add(claimed: string, storedAt: string, tail = "abcdef", sources = ["files"]): string {
    const id = `${claimed.slice(0, 19).replace(/[-:]/g, "")}Z-${tail}`;
    const at = new Date(storedAt);
    const objects = sources.map((s) => {
      const body = Buffer.from(`data of ${s}`);
      this.objects.set(`backups/${id}/${s}.tar.age`, { body, at });
      return { key: `backups/${id}/${s}.tar.age`, size: body.length, sha256: "0".repeat(64), source: s };
    });
    this.objects.set(`backups/${id}/manifest.json.age`, { body: Buffer.from("m"), at });
    objects.push({
      key: `backups/${id}/manifest.json.age`,
      size: 1,
      sha256: "0".repeat(64),
    } as (typeof objects)[number]);
    const complete = {
      format: "strongbox/1",
      id,
      started_at: claimed,
      finished_at: new Date(Date.parse(claimed) + 800).toISOString(),
      host: "h",
      tool_version: "0",
      compression: "none",
      sources: sources.map((name) => ({ name, type: "files" })),
      objects,
      warnings: 0,
    };
    this.objects.set(`backups/${id}/complete.json`, { body: Buffer.from(JSON.stringify(complete)), at });
    return id;
  }
}

const NOW = new Date("2026-12-05T03:00:00Z");
const repoOf = (store: Store, skewMs?: number) =>
  new Repository(store, { now: () => NOW, ...(skewMs === undefined ? {} : { clockSkewMs: skewMs }) });

describe("listBackups: the store's time judges a backup", () => {
  const CASES: {
    name: string;
    claimed: string;
    stored: string;
    skewMs?: number;
    untrusted: RegExp | null;
    backdated?: RegExp;
  }[] = [
    { name: "a real backup", claimed: "2026-12-05T02:00:00.000Z", stored: "2026-12-05T02:00:02Z", untrusted: null },
    {
      name: "a forgery dated 2097",
      claimed: "2097-06-01T12:00:00.000Z",
      stored: "2026-12-05T02:58:00Z",
      untrusted: /^claims 2097-06-01T12:00:00\.800Z, in the future of the store's clock/,
    },
    {
      name: "the id 99991231T235959Z",
      claimed: "9999-12-31T23:59:59.000Z",
      stored: "2026-12-05T02:58:00Z",
      untrusted: /in the future/,
    },
    // Back-dated: not counted by retention (notCounted), but no reason to refuse it (a copy looks the same).
    {
      name: "a back-dated forgery",
      claimed: "2026-12-04T02:00:00.000Z",
      stored: "2026-12-05T02:58:00Z",
      untrusted: null,
      backdated: /^back-dated: stored at 2026-12-05T02:58:00Z, claims 2026-12-04T02:00:00\.800Z$/,
    },
    {
      name: "a back-dated one within a 2-day skew",
      claimed: "2026-12-04T02:00:00.000Z",
      stored: "2026-12-05T02:58:00Z",
      skewMs: 2 * 86400_000,
      untrusted: null,
    },
  ];
  it.each(CASES)("$name", async (c) => {
    const store = new MemoryStore();
    const id = store.add(c.claimed, c.stored);
    const [b] = await repoOf(store, c.skewMs).listBackups();
    expect(b.id).toBe(id);
    expect(b.complete).not.toBeNull();
    expect(b.serverTime).toEqual(new Date(c.stored));
    if (c.untrusted) {
      expect(b.untrusted).toHaveLength(1);
      expect(b.untrusted![0]).toMatch(c.untrusted);
    } else expect(b.untrusted).toBeUndefined();
    if (c.backdated) {
      expect(b.backdated).toMatch(c.backdated);
      expect(notCounted(b)).toEqual([b.backdated]);
    } else expect(b.backdated).toBeUndefined();
  });

  it("resolve('latest') never picks an untrusted backup, and says so when nothing trusted is left", async () => {
    const store = new MemoryStore();
    const real = store.add("2026-12-05T02:00:00.000Z", "2026-12-05T02:00:01Z", "aaaaaa");
    store.add("2099-12-31T00:00:00.000Z", "2026-12-05T02:30:00Z", "bbbbbb");
    store.add("9999-12-31T23:59:59.000Z", "2026-12-05T02:30:00Z", "ffffff");
    expect((await repoOf(store).resolve("latest")).id).toBe(real);
    const onlyForged = new MemoryStore();
    onlyForged.add("2099-12-31T00:00:00.000Z", "2026-12-05T02:30:00Z", "bbbbbb", ["db"]);
    onlyForged.add("2026-12-05T02:00:00.000Z", "2026-12-05T02:00:01Z", "aaaaaa", ["files"]);
    await expect(repoOf(onlyForged).resolve("latest", ["db"])).rejects.toThrow(
      /^no trusted complete backup holding db in memory:\/\/test \(1 untrusted or unrestorable backup\(s\) skipped: see 'strongbox list'\)$/,
    );
    await expect(repoOf(onlyForged).resolve("latest", ["nothing"])).rejects.toThrow(
      /^no complete backup holding nothing in memory:\/\/test$/,
    );
  });

  it("keys under backups/ whose id is not a real time are ignored, counted and named", async () => {
    const store = new MemoryStore();
    store.add("2026-12-05T02:00:00.000Z", "2026-12-05T02:00:01Z");
    for (const k of [
      "backups/20261232T000000Z-abcdef/complete.json",
      "backups/20270230T250000Z-abcdef/x",
      "backups/junk",
      "backups/\u001b[31mred/complete.json",
    ])
      store.objects.set(k, { body: Buffer.from("{}"), at: NOW });
    const repo = repoOf(store);
    const list = await repo.listBackups();
    expect(list.map((b) => b.id)).toEqual(["20261205T020000Z-abcdef"]);
    expect(repo.ignored.count).toBe(4);
    expect(repo.ignored.sample).toContain('"backups/20261232T000000Z-abcdef/complete.json"');
    expect(repo.ignored.sample.join(" ")).not.toMatch(/\u001b/);
  });
});
