// The --principal help text, apart from policy.ts so that the CLI can show it without loading the command.
export const PRINCIPAL_FORMS =
  "AWS: arn:aws:iam::<account-id>:user/<name> (or :role/<name>); " +
  "Ceph RGW: arn:aws:iam:::user/<uid> (empty account, the radosgw-admin uid); MinIO ignores bucket-policy principals for its own users (attach the statements as a user policy without Principal)";
export const PRINCIPAL_HELP = `the principal each role's statements grant to; ROLE becomes writer/reader/pruner. ${PRINCIPAL_FORMS}`;
