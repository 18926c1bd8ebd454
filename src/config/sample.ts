/** The commented sample config that `strongbox init` writes; it validates as written. */
export function sampleConfig(o: { recipient: string; identityFile: string; repository: string; files: { name: string; path: string }[]; signing?: { keyFile: string; publicKey: string } }): string {
  const sources = o.files.map((f) => `  - name: ${f.name}\n    type: files\n    path: ${f.path}\n    exclude: ["**/*.tmp"]`).join("\n");
  return `# strongbox configuration (format: see README.md, "Config reference").
# Values may use \${ENV_VAR}; any secret may instead be read from a file with <key>_file.
version: 1

repository:
  # A local directory (or a mounted share)...
  url: ${o.repository}
  # ...or S3-compatible storage with least-privilege credentials per role:
  # url: s3://my-bucket/spx-prod
  # s3:
  #   endpoint: https://s3.eu-central-1.amazonaws.com
  #   region: eu-central-1
  #   force_path_style: false
  #   credentials:
  #     writer: { access_key_id: \${BACKUP_WRITER_KEY_ID}, secret_access_key_file: /run/secrets/writer }
  #     reader: { access_key_id: \${BACKUP_READER_KEY_ID}, secret_access_key_file: /run/secrets/reader }
  #     pruner: { access_key_id: \${BACKUP_PRUNER_KEY_ID}, secret_access_key_file: /run/secrets/pruner }
  #   object_lock_days: 0
  #   timeouts: { connect: 10s, idle: 60s, request: 15m }    # idle: no byte moving that long fails the request
  #   retry: { attempts: 9, base_delay: 0.5s, max_delay: 20s }  # backoff with jitter, ~1 min before giving up
  #   verify_after_write: false   # true: check each upload is stored (needs reader credentials or writer s3:GetObject)

encryption:
  # Public keys only: the backup host never needs the private identity.
  # age1… (X25519) and/or age1pq1… (hybrid post-quantum, strongbox keygen --pq; needs age >= 1.3 by hand).
  recipients: [${o.recipient}]
  # Needed only where restore, verify and drill run. Keep it off the backup host in production.
  identity_file: ${o.identityFile}
  # identity_passphrase_file: /run/secrets/identity-passphrase   # when identity_file is passphrase-protected
  #                                     # (or set STRONGBOX_IDENTITY_PASSPHRASE)

${o.signing ? signingSection(o.signing) : ""}compression: zstd        # zstd (default) | gzip | none, optional level: "zstd:3"

sources:
${sources}
  # - name: db
  #   type: postgres
  #   url: \${DATABASE_URL}

# on_unreadable: fail     # default: a path that cannot be read fails its source (exit 1);
#                         # partial: commit what can be read, marked partial (exit 4)
# retention: { keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 12 }
# audit_log: /var/log/strongbox/audit.jsonl
`;
}

/** Signed backups (README, "Signed backups"): init writes a key and trusts it. */
function signingSection(s: { keyFile: string; publicKey: string }): string {
  return `signing:
  # The backup host signs each backup's complete.json with this key (a drill host signs its reports).
  # strongbox keygen --signing -o FILE makes one; hosts that only read need no key_file.
  key_file: ${s.keyFile}
  # Only backups signed by one of these keys count; anything else is UNTRUSTED (never latest, never
  # counted by retention). Rotate: add the new key, then give the old one valid_before.
  trusted:
    - key: "${s.publicKey}"
      # valid_after: "2026-01-01T00:00:00Z"
      # valid_before: "2027-01-01T00:00:00Z"
  # allow_unsigned_before: "2026-12-01T00:00:00Z"   # migration: trust unsigned backups the store dated before this

`;
}
