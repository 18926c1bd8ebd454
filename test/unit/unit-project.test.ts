// `npm run test:unit` stays fast and in-process, `npm test` type-checks src and test first, and the
// README's development commands name scripts that exist.
import { globSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import unitConfig, { needsServicesOrBuild, replacesModules } from "../../vitest.unit.config.js";

const root = new URL("../../", import.meta.url).pathname;
const read = (f: string) => readFileSync(join(root, f), "utf8");
const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };

/**
 * What a test file does that the unit project cannot give it: the services (injected or started), the
 * built CLI, dist/, or a crypto worker thread it requires (the worker's entry is the built one, see
 * src/worker-file.ts).
 */
const NEEDS = /\binject\(|global-setup|\brunCli\b|\brunMeasured\b|\bBIN\b|dist\/|\.threaded\)\.toBe\(true\)/;

describe("the unit project (npm run test:unit)", () => {
  const test = unitConfig.test!;
  type Project = {
    test: { name: string; include: string[]; exclude?: string[]; poolOptions?: { forks?: { isolate?: boolean } } };
  };
  const projects = test.projects as Project[];
  const filesOf = (p: Project) =>
    globSync(p.test.include, { cwd: root }).filter(
      (f) => !(p.test.exclude ?? []).some((x) => globSync(x, { cwd: root }).includes(f)),
    );
  const files = projects.flatMap(filesOf);
  /** What makes a file unsafe to share a registry: it replaces or resets modules, or stubs env or globals (never undone). */
  const REPLACES = /\bvi\.(?:mock|doMock|unmock|doUnmock|resetModules|stubEnv|stubGlobal)\(/;

  it("has no global setup (no Ceph, no PostgreSQL) and runs without a build", () => {
    expect(test.globalSetup ?? []).toEqual([]);
    expect(pkg.scripts["test:unit"]).toBe("vitest run -c vitest.unit.config.ts");
  });

  it("leaves out every file that needs a service or the built CLI, and only those", () => {
    expect(files.length).toBeGreaterThan(30);
    expect(new Set(files).size).toBe(files.length); // no file in two projects
    expect(files.filter((f) => f.startsWith("test/e2e/") || f.startsWith("test/faults/"))).toEqual([]);
    expect(files.filter((f) => f !== "test/unit/unit-project.test.ts" && NEEDS.test(read(f)))).toEqual([]); // (this file names them)
    for (const f of needsServicesOrBuild) expect(read(f), f).toMatch(NEEDS);
  });

  it("runs a file that replaces a module (vi.mock) in a registry of its own, and only those", () => {
    // A project shares its registry unless it says isolate: true (the root's false is inherited).
    expect(test.poolOptions?.forks?.isolate).toBe(false);
    const shared = projects.filter((p) => p.test.poolOptions?.forks?.isolate !== true).flatMap(filesOf);
    const isolated = projects.filter((p) => p.test.poolOptions?.forks?.isolate === true).flatMap(filesOf);
    expect(shared.length).toBeGreaterThan(30);
    expect(shared.filter((f) => f !== "test/unit/unit-project.test.ts" && REPLACES.test(read(f)))).toEqual([]); // (this file names them)
    expect(isolated.sort()).toEqual([...replacesModules].sort());
    for (const f of replacesModules) expect(read(f), f).toMatch(REPLACES);
  });
});

describe("type-checking the tests", () => {
  it("npm test runs `npm run typecheck` (src and test, no output) before the suite", () => {
    expect(pkg.scripts.test.startsWith("npm run typecheck && ")).toBe(true);
    expect(pkg.scripts.typecheck).toBe("tsc -p tsconfig.test.json");
    const tsconfig = JSON.parse(read("tsconfig.test.json"));
    expect(tsconfig.compilerOptions.noEmit).toBe(true);
    expect(tsconfig.include).toEqual(expect.arrayContaining(["src/**/*.ts", "test/**/*.ts"]));
  });
});

describe("lint and format", () => {
  it("npm test runs `npm run lint` (ESLint and Prettier's check) before the suite, so .ci/run does", () => {
    expect(pkg.scripts.test.split(" && ")).toEqual([
      "npm run typecheck",
      "npm run lint",
      "npm run build",
      "vitest run",
    ]);
    expect(pkg.scripts.lint).toBe("eslint . && prettier --check .");
  });
});

describe("README's development commands", () => {
  const tests = read("README.md").split("\n## Tests\n")[1].split("\n## ")[0];
  const commands = [...tests.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1].split("\n").filter((l) => l.trim()),
  );

  it("name scripts that exist: npm test, npm run test:unit, npm run typecheck", () => {
    const runs = commands.map((c) => /^npm (?:run )?([\w:]+)/.exec(c)?.[1]).filter((s): s is string => !!s);
    expect(runs).toEqual(expect.arrayContaining(["test:unit", "typecheck"]));
    for (const s of runs) expect(pkg.scripts, s).toHaveProperty([s]);
  });
});
