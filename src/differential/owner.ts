import type { Config } from "../config/schema.js";
import { defaultStateDir, type StateOwner } from "./state.js";

/** Whose state this host keeps: the repository (URL, and the endpoint for S3) and the recipients. */
export function stateOwner(config: Config): StateOwner {
  const s3 = config.repository.s3;
  const where = config.repository.url.startsWith("s3://") ? ` at ${s3?.endpoint ?? `aws:${s3?.region ?? ""}`}` : "";
  return {
    stateDir: config.state_dir ?? defaultStateDir(),
    repository: `${config.repository.url}${where}`,
    recipients: config.encryption.recipients,
  };
}
