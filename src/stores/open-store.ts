import { fileUrlPath, isFileUrl } from "../config/file-url.js";
import type { Config, Role } from "../config/schema.js";
import { parseDuration } from "../config/duration.js";
import { requireResolved, unresolvedUnder } from "../config/deferred.js";
import { StrongboxError } from "../errors.js";
import { LocalDirStore } from "./local-dir.js";
import type { S3StoreOptions } from "./s3.js";
import type { Store } from "./store.js";

const ms = (d: string) => parseDuration(d)!;

/**
 * verify_after_write HEADs each upload: with the reader's credentials when this host has them (configured,
 * and their variables and files resolved here), otherwise with the writer's own (the operator then grants
 * the writer s3:GetObject on the prefix).
 */
function verifyCredentials(cfg: Config, role: Role): { accessKeyId: string; secretAccessKey: string } {
  const c = cfg.repository.s3!.credentials;
  const readerHere =
    c.reader !== undefined && unresolvedUnder(cfg, [["repository", "s3", "credentials", "reader"]]).length === 0;
  const creds = readerHere ? c.reader! : c[role]!;
  return { accessKeyId: creds.access_key_id, secretAccessKey: creds.secret_access_key };
}

/** Opens the configured repository with the credentials of one role (README, "S3 setup and least privilege"). The S3 client loads only for s3://. */
export async function openStore(cfg: Config, role: Role, extra: Partial<S3StoreOptions> = {}): Promise<Store> {
  const url = cfg.repository.url;
  if (isFileUrl(url)) return new LocalDirStore(fileUrlPath(url));
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)!;
  const s3 = cfg.repository.s3!;
  const creds = s3.credentials[role];
  if (!creds) {
    throw new StrongboxError(
      "CONFIG",
      `repository.s3.credentials.${role}: required for this command (it runs with the ${role} role)`,
    );
  }
  requireResolved(cfg, [["repository", "s3", "credentials", role]]);
  const prefix = m[2].replace(/\/+$/, "");
  const { S3Store } = await import("./s3.js");
  return new S3Store({
    bucket: m[1],
    prefix: prefix ? `${prefix}/` : "",
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: s3.force_path_style,
    credentials: { accessKeyId: creds.access_key_id, secretAccessKey: creds.secret_access_key },
    role,
    objectLockDays: s3.object_lock_days,
    partSize: s3.part_size_mb * 1024 * 1024,
    timeouts: { connectMs: ms(s3.timeouts.connect), idleMs: ms(s3.timeouts.idle), requestMs: ms(s3.timeouts.request) },
    retry: { attempts: s3.retry.attempts, baseDelayMs: ms(s3.retry.base_delay), maxDelayMs: ms(s3.retry.max_delay) },
    verifyCredentials: role === "writer" && s3.verify_after_write ? verifyCredentials(cfg, role) : undefined,
    ...extra,
  });
}
