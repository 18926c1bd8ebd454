import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { inject } from "vitest";
import { S3Store } from "../../src/stores/s3.js";
import { storeContract } from "../contract/store-contract.js";
import { s3Client } from "../helpers/s3-fixture.js";

const s3 = inject("s3");
const make = () => {
  const store = new S3Store({
    bucket: s3!.bucket,
    prefix: "contract/",
    endpoint: s3!.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3!.admin.accessKeyId, secretAccessKey: s3!.admin.secretAccessKey },
    role: "admin",
    partSize: 5 * 1024 * 1024,
  });
  return {
    store,
    largeSize: 12 * 1024 * 1024 + 12345,
    openUploads: async () => {
      const c = s3Client(s3!.endpoint, s3!.admin);
      const res = await c.send(new ListMultipartUploadsCommand({ Bucket: s3!.bucket, Prefix: "contract/" }));
      c.destroy();
      return res.Uploads?.length ?? 0;
    },
  };
};
let harness: ReturnType<typeof make> | undefined;
storeContract("S3Store on Ceph RGW", () => (harness ??= make()), !s3);
