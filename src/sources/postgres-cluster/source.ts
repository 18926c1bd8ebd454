import { promises as fsp } from "node:fs";
import { join } from "node:path";
import type { PostgresClusterSourceConfig } from "../../config/schema.js";
import { diskSink } from "../../archive/extract.js";
import { StrongboxError } from "../../errors.js";
import { makeScratch, removeScratch, sweepKilledScratch } from "../../scratch-space.js";
import { parseBackupLabel, parseWalRanges } from "../../repository/lsn.js";
import type { ClusterManifest, SourceManifest } from "../../repository/manifest.js";
import { configToBackUp } from "../source.js";
import type {
  Check,
  JobContext,
  Layers,
  RestoreTarget,
  Source,
  SourceArtifact,
  StoredSourceSettings,
} from "../source.js";
import { runWithInput, spawnDataStream } from "../postgres/child-stream.js";
import { displayUrl, libpqEnv } from "../postgres/connection.js";
import { findPgTool } from "../postgres/tools.js";
import { baseTap, type TapResult } from "./base-tap.js";
import { readBase } from "./base-read.js";
import { writeRecovery } from "./recovery.js";

/** backup_manifest exists from PostgreSQL 13 on. */
const MIN_MAJOR = 13;

/**
 * A whole PostgreSQL cluster: a base backup streamed from `pg_basebackup -D - -Ft -X none` (no copy
 * on this host's disk), with its backup_manifest inside the tar; the WAL it needs is archived
 * separately (`wal push`). Restore writes a data directory that recovers from the archive.
 */
export class ClusterSource implements Source {
  readonly type = "postgres-cluster" as const;
  readonly name: string;

  constructor(private readonly stored: PostgresClusterSourceConfig | StoredSourceSettings) {
    this.name = stored.name;
  }

  /** The full config: a backup needs it; a source opened only to read a stored backup has none. */
  private get cfg(): PostgresClusterSourceConfig {
    return configToBackUp(this.stored, this.name);
  }

  async backup(ctx: JobContext): Promise<SourceArtifact> {
    const tool = await findPgTool("pg_basebackup", MIN_MAJOR, this.cfg.pg_bin_dir);
    ctx.log.info(`${this.name}: base backup of ${displayUrl(this.cfg.url)} with ${tool.path} ${tool.version}`);
    const args = [
      "-D",
      "-",
      "-Ft",
      "-X",
      "none",
      `--checkpoint=${this.cfg.checkpoint}`,
      "--no-password",
      "-l",
      "strongbox",
    ];
    const startTime = new Date();
    const raw = spawnDataStream("pg_basebackup", tool.path, args, libpqEnv(this.cfg.url));
    const tap = baseTap();
    raw.on("error", (err) => tap.stream.destroy(explainTablespaces(err)));
    raw.pipe(tap.stream);
    if (ctx.onBytes) tap.stream.on("data", (c: Buffer) => ctx.onBytes!(c.length));
    return {
      stream: tap.stream,
      suffix: ".base.tar",
      finish: async () => this.manifestOf(tap.result, tool.version, startTime, new Date()),
    };
  }

  /** The manifest part, from the files the tap kept; a base backup without them is not one. */
  private manifestOf(t: TapResult, toolVersion: string, start: Date, stop: Date): ClusterManifest {
    const need = (name: string) => {
      const f = t.files.get(name);
      if (!f?.length) throw new StrongboxError("SOURCE", `${this.name}: pg_basebackup's archive holds no ${name}`);
      return f;
    };
    const label = parseBackupLabel(need("backup_label").toString("utf8"));
    const range = parseWalRanges(need("backup_manifest").toString("utf8"));
    const version = need("PG_VERSION").toString("latin1").trim();
    if (range.startLsn !== label.startLsn)
      throw new StrongboxError("SOURCE", `${this.name}: backup_label and backup_manifest disagree on the start LSN`);
    return {
      type: "postgres-cluster",
      object: "",
      server_version: version,
      pg_basebackup_version: toolVersion,
      system_identifier: need("global/pg_control").readBigUInt64LE(0).toString(),
      timeline: label.timeline,
      start_lsn: label.startLsn,
      stop_lsn: range.endLsn,
      start_wal: label.startSegment,
      start_time: start.toISOString(),
      stop_time: stop.toISOString(),
      warnings: [],
    };
  }

  private manifest(m: SourceManifest): ClusterManifest {
    if (m.type !== "postgres-cluster")
      throw new StrongboxError("VERIFY", `source ${this.name}: manifest is not a postgres-cluster manifest`);
    return m;
  }

  async restore(layers: Layers, target: RestoreTarget, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    const m = this.manifest(manifest);
    const dir = target.dir;
    if (!dir) throw new StrongboxError("USAGE", `source ${this.name}: restoring a cluster needs --to-dir DATADIR`);
    if (!target.recovery) throw new StrongboxError("USAGE", `source ${this.name}: no recovery settings`);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.chmod(dir, 0o700);
    const facts = await layers.read((data) =>
      readBase(data, m, diskSink(dir, { warn: (w) => ctx.log.warn(w), keepSetuid: false, chown: false }), ctx.onBytes),
    );
    // As root: the whole data directory belongs to this host's postgres account (the one the printed start
    // command runs the server as). Never the archive's uid: a forger names any, and another host's differs.
    const owner = process.getuid?.() === 0 ? await localPostgres() : undefined;
    if (process.getuid?.() === 0 && !owner)
      ctx.log.warn(
        `${this.name}: no postgres account on this host: ${dir} stays root's; chown it to the server's user`,
      );
    if (owner) await chownTree(dir, owner);
    const verified = await this.verifyBackup(dir, m);
    if (!verified.ok) return [verified];
    await writeRecovery(dir, target.recovery, `strongbox restore of ${m.start_lsn} (${m.start_time})`, owner);
    return [
      {
        name: `${this.name}: base backup extracted and checked`,
        ok: true,
        detail: `${facts.entries} entries, ${facts.bytes} bytes, WAL from ${m.start_wal}`,
      },
      verified,
    ];
  }

  /** pg_verifybackup against the kept backup_manifest, without the WAL (-n): that comes from the archive. */
  private async verifyBackup(dir: string, m: ClusterManifest): Promise<Check> {
    const tool = await findPgTool("pg_verifybackup", Number(m.server_version.split(".")[0]), this.stored.pg_bin_dir);
    const name = `${this.name}: pg_verifybackup against the backup_manifest`;
    try {
      await runWithInput("pg_verifybackup", tool.path, ["-n", "-q", dir], {}, null);
      return { name, ok: true, detail: "backup successfully verified" };
    } catch (err) {
      if (err instanceof StrongboxError && err.code === "SOURCE") return { name, ok: false, detail: err.message };
      throw err;
    }
  }

  /**
   * The same pass as restore, into a scratch directory under TMPDIR that is removed afterwards, and the
   * same pg_verifybackup: verify reaches exactly restore's verdict (it needs the cluster's size on disk).
   */
  async verify(layers: Layers, manifest: SourceManifest, ctx: JobContext): Promise<Check[]> {
    const m = this.manifest(manifest);
    await sweepKilledScratch(ctx.log);
    const scratch = await makeScratch("strongbox-verify-cluster-");
    try {
      const dir = join(scratch, "data");
      await fsp.mkdir(dir, { mode: 0o700 });
      const sink = diskSink(dir, { warn: () => {}, keepSetuid: false, chown: false });
      const facts = await layers.read((data) => readBase(data, m, sink, ctx.onBytes));
      return [
        {
          name: `${this.name}: base backup reads and agrees with the manifest`,
          ok: true,
          detail: `${facts.entries} entries, ${facts.bytes} bytes, WAL ${m.start_lsn}-${m.stop_lsn} on timeline ${m.timeline}`,
        },
        await this.verifyBackup(dir, m),
      ];
    } finally {
      await removeScratch(scratch);
    }
  }
}

/** This host's `postgres` account (/etc/passwd), or undefined. */
async function localPostgres(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await fsp.readFile("/etc/passwd", "utf8").catch(() => "");
  const f = passwd
    .split("\n")
    .find((l) => l.startsWith("postgres:"))
    ?.split(":");
  const [uid, gid] = [Number(f?.[2]), Number(f?.[3])];
  return f && Number.isInteger(uid) && Number.isInteger(gid) && uid > 0 ? { uid, gid } : undefined;
}

async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await fsp.lchown(dir, owner.uid, owner.gid);
  for (const rel of await fsp.readdir(dir, { recursive: true })) await fsp.lchown(join(dir, rel), owner.uid, owner.gid);
}

/** pg_basebackup can write one tablespace to stdout; say what that means here. */
function explainTablespaces(err: Error): Error {
  if (/single tablespace|can only write single/i.test(err.message))
    return new StrongboxError(
      "SOURCE",
      `${err.message}: the cluster has tablespaces besides the default ones, which a streamed base backup cannot hold (move them into the default tablespace)`,
    );
  return err;
}
