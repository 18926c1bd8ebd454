import { describe, expect, it } from "vitest";
import { proxyFor } from "../../src/net/proxy.js";

describe("which proxy a URL goes through", () => {
  const env = {
    HTTPS_PROXY: "http://user:pw@proxy.corp:3128",
    HTTP_PROXY: "http://plain.corp:8080",
    NO_PROXY: "localhost,.internal.example,rgw.lan:7480,10.0.0.5",
  };
  it.each([
    ["https://s3.eu-central-1.amazonaws.com", "http://proxy.corp:3128"],
    ["http://hc.example.com/ping", "http://plain.corp:8080"],
    ["https://a.internal.example/x", undefined],
    ["https://internal.example/x", undefined],
    ["http://rgw.lan:7480", undefined],
    ["http://rgw.lan:8000", "http://plain.corp:8080"],
    ["http://10.0.0.5:9000", undefined],
    ["http://localhost:9000", undefined],
    ["http://127.0.0.1:9000", "http://plain.corp:8080"],
  ])("%s → %s (credentials never shown)", (url, proxy) => expect(proxyFor(url, env)).toBe(proxy));
  it("lower-case variables win, * bypasses everything, no variable means direct", () => {
    expect(proxyFor("https://x.com", { HTTPS_PROXY: "http://a:1", https_proxy: "http://b:2" })).toBe("http://b:2");
    expect(proxyFor("https://x.com", { HTTPS_PROXY: "http://a:1", NO_PROXY: "*" })).toBeUndefined();
    expect(proxyFor("https://x.com", {})).toBeUndefined();
  });
});
