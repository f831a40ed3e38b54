import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ENV_EXAMPLE, envExample, README, readmeWithTable } from "../../scripts/gen-config-docs.ts";

test("README's configuration table matches src/config/schema.ts", () => {
  const readme = readFileSync(README, "utf8");
  assert.equal(readme, readmeWithTable(readme), "run: deno run -A scripts/gen-config-docs.ts");
});

test(".env.example matches src/config/schema.ts", () => {
  assert.equal(readFileSync(ENV_EXAMPLE, "utf8"), envExample(), "run: deno run -A scripts/gen-config-docs.ts");
});

test("README links BENCHMARKS.md, whose plot and reproduce commands exist", () => {
  const root = dirname(README);
  const readme = readFileSync(README, "utf8");
  assert.match(readme, /\]\(BENCHMARKS\.md\)/);
  const report = readFileSync(join(root, "BENCHMARKS.md"), "utf8");
  const plot = /!\[[^\]]*\]\(([^)]+\.svg)\)/.exec(report)?.[1];
  assert.ok(plot && existsSync(join(root, plot)), `plot ${plot} exists`);
  assert.match(readFileSync(join(root, plot!), "utf8"), /^<svg /);
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  for (const script of ["bench", "bench:processing"]) {
    assert.ok(readme.includes(`npm run ${script}`), `README mentions npm run ${script}`);
    const file = /scripts\/[\w-]+\.ts/.exec(pkg.scripts[script])?.[0];
    assert.ok(file && existsSync(join(root, file)), `${script} runs an existing script (${file})`);
  }
});
