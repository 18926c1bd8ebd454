import type { Config, Role } from "../config/schema.js";
import { StrongboxError } from "../errors.js";
import { LocalDirStore } from "./local-dir.js";
import { S3Store, type S3StoreOptions } from "./s3.js";
import type { Store } from "./store.js";

/** Opens the configured repository with the credentials of one role (SPEC §5). */
export function openStore(cfg: Config, role: Role, extra: Partial<S3StoreOptions> = {}): Store {
  const url = cfg.repository.url;
  if (url.startsWith("file://")) return new LocalDirStore(decodeURIComponent(new URL(url).pathname).replace(/\/+$/, ""));
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url)!;
  const s3 = cfg.repository.s3!;
  const creds = s3.credentials[role];
  if (!creds) {
    throw new StrongboxError("CONFIG", `repository.s3.credentials.${role}: required for this command (it runs with the ${role} role)`);
  }
  const prefix = m[2].replace(/\/+$/, "");
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
    ...extra,
  });
}
