import { describe, expect, it } from "vitest";
import { redact } from "../../src/secrets.js";

describe("URL password masking", () => {
  it("masks a password holding unencoded @ signs completely", () => {
    const out = redact("connect postgres://app:p@ss@w0rd@db.example.com:5432/prod failed");
    expect(out).toBe("connect postgres://app:***@db.example.com:5432/prod failed");
    expect(out).not.toMatch(/ss|w0rd/);
  });
  it("still masks an ordinary password and leaves a URL without one alone", () => {
    expect(redact("postgres://app:secret@h/db and postgres://h2/db")).toBe(
      "postgres://app:***@h/db and postgres://h2/db",
    );
  });
});
