import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ENV_EXAMPLE, envExample, README, readmeWithTable } from "../../scripts/gen-config-docs.ts";

test("README's configuration table matches src/config/schema.ts", () => {
  const readme = readFileSync(README, "utf8");
  assert.equal(readme, readmeWithTable(readme), "run: deno run -A scripts/gen-config-docs.ts");
});

test(".env.example matches src/config/schema.ts", () => {
  assert.equal(readFileSync(ENV_EXAMPLE, "utf8"), envExample(), "run: deno run -A scripts/gen-config-docs.ts");
});
