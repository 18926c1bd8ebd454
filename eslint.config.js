// Lint: the recommended JavaScript and typescript-eslint rules (syntax only, no type information, so
// it stays fast), with the few rules this code base chooses differently and why.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".tools/", "coverage/", "test/fixtures/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        setImmediate: "readonly",
        URL: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        TextDecoder: "readonly",
        TextEncoder: "readonly",
        fetch: "readonly",
        queueMicrotask: "readonly",
        structuredClone: "readonly",
        performance: "readonly",
        globalThis: "readonly",
      },
    },
    rules: {
      // Control characters are matched on purpose: names from a repository are hostile, and terminals obey them.
      "no-control-regex": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
  // Tests forge malformed objects and poke at internals; `any` is the honest type there.
  { files: ["test/**", "scripts/**"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
