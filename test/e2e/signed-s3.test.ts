// Signed backups on Ceph RGW under the least-privilege roles: the backup host (writer role) signs with
// its key, a forger holds the writer credentials and the public recipient but no signing key, the drill
// host (reader role) signs its reports with its own key, and the reader trusts both keys.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, inject, it } from "vitest";
import { keys } from "../../src/repository/layout.js";
import { LocalDirStore } from "../../src/stores/local-dir.js";
import { makeRepo, tempDir } from "../helpers/cli.js";
import { runInProcess as runCli } from "../helpers/run-in-process.js";
import { collect, forgeBackup, writerStore } from "../helpers/forge-store.js";
import { S3Store } from "../../src/stores/s3.js";

const s3 = inject("s3");

async function keygen(file: string): Promise<string> {
  const k = await runCli(["keygen", "--signing", "-o", file]);
  expect(k.code).toBe(0);
  return k.stdout.trim();
}

describe.skipIf(!s3)("signed backups on Ceph RGW: writer-only forger, reader and drill host", () => {
  it("the forged unsigned backup is never latest, list marks it, restore <id> exits 3; the real one verifies by hand with ssh-keygen", async () => {
    const data = tempDir("s3signed");
    writeFileSync(join(data, "a.txt"), "real\n");
    const repo = makeRepo({ sources: [{ name: "assets", type: "files", path: data }], s3: s3! });
    const backupKey = join(repo.dir, "backup-host.key");
    const drillKey = join(repo.dir, "drill-host.key");
    const backupPub = await keygen(backupKey);
    const drillPub = await keygen(drillKey);
    const creds = repo.config.repository.s3.credentials;
    // The backup host: writer role only, its signing key, no identity.
    const backupHost = repo.write((c) => {
      c.repository.s3.credentials = { writer: creds.writer };
      delete c.encryption.identity_file;
      c.signing = { key_file: backupKey, trusted: [{ key: backupPub }] };
    });
    // The drill host and reader: reader role only, trusts both keys, signs drill reports with its own.
    const reader = repo.write((c) => {
      c.repository.s3.credentials = { reader: creds.reader };
      c.signing = { key_file: drillKey, trusted: [{ key: backupPub }, { key: drillPub }] };
    });
    const b = await runCli(["-c", backupHost, "--json", "backup", "now"]);
    expect(b.stderr).not.toMatch(/error/);
    expect(b.code).toBe(0);
    const real = JSON.parse(b.stdout).id;
    const forgedData = tempDir("s3forged");
    writeFileSync(join(forgedData, "a.txt"), "forged\n");
    const evil = await forgeBackup(writerStore(repo), repo.recipient, {
      files: { assets: forgedData },
      started: new Date(Date.now() + 2000),
    });

    const out = tempDir("s3signed-out");
    const r = await runCli(["-c", reader, "restore", "latest", "--to-dir", out]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "assets", "a.txt"), "utf8")).toBe("real\n");
    const lj = JSON.parse((await runCli(["-c", reader, "--json", "list"])).stdout);
    expect(lj).toMatchObject([
      { id: evil.id, untrusted: ["unsigned (no complete.json.sig)"] },
      { id: real, signed_by: expect.stringMatching(/^SHA256:/) },
    ]);
    const refused = await runCli(["-c", reader, "restore", evil.id, "--to-dir", tempDir("s3refused")]);
    expect(refused.stderr).toMatch(/is untrusted: unsigned/);
    expect(refused.code).toBe(3);
    const forced = await runCli([
      "-c",
      reader,
      "restore",
      evil.id,
      "--to-dir",
      tempDir("s3forced"),
      "--allow-unsigned",
    ]);
    expect(forced.stderr).toMatch(/--allow-unsigned: using backup \S+ although it is UNTRUSTED/);
    expect(forced.code).toBe(0);

    // The drill host signs its report with its own key (reader role: drills/ only); list counts it.
    const d = await runCli(["-c", reader, "--json", "drill"]);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout).backup_id).toBe(real);
    const after = JSON.parse((await runCli(["-c", reader, "--json", "list"])).stdout);
    expect(after.find((x: { id: string }) => x.id === real).last_drill).toMatchObject({ result: "pass" });
    // The writer cannot fake it: an unsigned "pass" for the forgery is not counted (nor, once the
    // printed policy confines the writer to backups/, can it be written at all).
    const fake = `${evil.id.slice(0, 16)}-abcdef`;
    await writerStore(repo)
      .put(
        keys.drill(fake),
        Readable.from([
          Buffer.from(
            JSON.stringify({
              format: "strongbox/1 drill",
              drill_id: fake,
              backup_id: evil.id,
              result: "pass",
              finished_at: new Date().toISOString(),
            }),
          ),
        ]),
      )
      .catch(() => {});
    const final = JSON.parse((await runCli(["-c", reader, "--json", "list"])).stdout);
    expect(final.find((x: { id: string }) => x.id === evil.id).last_drill).toBeNull();

    // By hand: the real backup's complete.json and its signature, fetched with the reader role, verify with ssh-keygen.
    const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(repo.config.repository.url)!;
    const rs = new S3Store({
      bucket: m[1],
      prefix: `${m[2]}/`,
      endpoint: s3!.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: s3!.reader.accessKeyId, secretAccessKey: s3!.reader.secretAccessKey },
      role: "reader",
    });
    const dir = tempDir("s3byhand");
    const local = new LocalDirStore(dir);
    for (const k of [keys.complete(real), keys.completeSig(real)])
      await local.put(k, Readable.from([await collect(await rs.get(k))]));
    writeFileSync(join(dir, "allowed_signers"), `strongbox namespaces="strongbox-backup" ${backupPub}\n`);
    const v = spawnSync(
      "sh",
      [
        "-c",
        `ssh-keygen -Y verify -f allowed_signers -I strongbox -n strongbox-backup -s backups/${real}/complete.json.sig < backups/${real}/complete.json`,
      ],
      { cwd: dir, encoding: "utf8" },
    );
    if (!v.error) {
      expect(v.stdout).toMatch(/Good "strongbox-backup" signature for strongbox with ED25519 key SHA256:/);
      expect(v.status).toBe(0);
    }
  });
});
