// The throwaway recovery server's restore_command (`strongbox wal fetch`) reaches the repository the
// way strongbox itself does: through the proxy the environment names, when it names one.
import { describe, expect, it } from "vitest";
import { recoveryEnv } from "../../src/sources/postgres-cluster/recover-run.js";

describe("recoveryEnv", () => {
  it("keeps the proxy settings S3 and notifications go through, and still drops other variables", () => {
    const env = recoveryEnv(["S3_SECRET"], {
      HTTPS_PROXY: "http://proxy:3128",
      http_proxy: "http://proxy:3128",
      NO_PROXY: "localhost",
      S3_SECRET: "named by the config",
      PGPASSWORD: "the production server's",
      OTHER_SECRET: "x",
    });
    expect(env).toEqual({
      HTTPS_PROXY: "http://proxy:3128",
      http_proxy: "http://proxy:3128",
      NO_PROXY: "localhost",
      S3_SECRET: "named by the config",
    });
  });
});
