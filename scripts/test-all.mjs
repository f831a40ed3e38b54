#!/usr/bin/env node
// The README's test command (`npm test`): builds the binary, runs the suite under Deno and under Bun, and prints one
// closing line "N passed, N failed" summed over both runtimes (from their JUnit reports).
// tests/unit and tests/integration run under both runtimes. tests/e2e drives the compiled binary, which is the same
// program whichever runtime runs the test file, so a run of both gives it to one runtime only (Bun by default; it
// saves about 4.5 minutes); `--e2e-runtimes=deno,bun` (or E2E_RUNTIMES) runs it under both. Named paths run under both.
// A full run (no path filter) first runs the static checks: format, lint, type check of src/ tests/ scripts/, no
// import cycles (scripts/check-imports.ts) and actionlint over .github/workflows; any failure stops the run before
// the tests.
// A full run of both runtimes runs their unit and integration tests at the same time (output lines prefixed with the
// runtime), then tests/e2e on its own; `--serial` (or TEST_SERIAL=1) runs one runner after the other instead.
// Usage: node scripts/test-all.mjs [--deno-only|--bun-only] [--skip-static] [--serial] [--e2e-runtimes=deno,bun]
//   [path...]
import { spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
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
    const attr = (key) => new RegExp(`\\b${key}="([^"]*)"`).exec(m[1])?.[1] ?? "";
    cases.push({ name: attr("name"), file: attr("file"), classname: attr("classname"), body: m[3] ?? "" });
  }
  const names = cases.map((c) => c.name);
  let passed = 0, skipped = 0;
  const failures = [];
  for (const c of cases) {
    if (names.some((n) => n.startsWith(`${c.name} &gt; `))) continue;
    const failure = /<(failure|error)\b([^>]*?)(\/>|>([\s\S]*?)<\/(failure|error)>)/.exec(c.body);
    if (failure) {
      // Bun names the file and the describe() group apart; Deno's classname is the file and the name has the group
      // (for node:test suites Deno gives its own shim, ext:deno_node/testing.ts, as the classname: left out).
      const where = c.file && c.classname
        ? `${c.file}: ${c.classname} > `
        : c.classname.startsWith("ext:")
        ? ""
        : `${c.classname}: `;
      const message = /\bmessage="([^"]*)"/.exec(failure[2])?.[1] ?? "";
      const detail = (failure[4] ?? "").trim() !== "" ? failure[4] : message;
      failures.push({ name: unescapeXml(`${where}${c.name}`), detail: unescapeXml(detail) });
    } else if (/<skipped\b/.test(c.body)) skipped++;
    else passed++;
  }
  return { passed, failed: failures.length, skipped, failures };
}

function unescapeXml(text) {
  return text.replace(/<!\[CDATA\[|\]\]>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'").replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&amp;/g, "&");
}

/** The first lines of a failure, so that the end of a long CI log names what failed and why. */
function failureSummary(detail, maxLines = 12) {
  const lines = detail.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const shown = lines.slice(0, maxLines).map((l) => `      ${l.slice(0, 300)}`);
  if (lines.length > maxLines) shown.push(`      … ${lines.length - maxLines} more line(s) in the JUnit report`);
  return shown.join("\n");
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

/** The command line of one runtime's test runner over `paths`, writing its JUnit report to `report`. */
function runnerArgs(runtime, paths, report) {
  if (runtime === "deno") return [join(bin, "deno"), ["test", "-A", "--no-check", `--junit-path=${report}`, ...paths]];
  return [join(bin, "bun"), [
    "test",
    "--timeout",
    "300000",
    "--reporter=junit",
    `--reporter-outfile=${report}`,
    ...paths.map((t) => t.startsWith(".") || t.startsWith("/") ? t : `./${t}`),
  ]];
}

/**
 * Runs the runners at the same time, each line of their output prefixed with its runtime ("[deno] ", "[bun] ");
 * resolves with each one's exit code.
 */
function runConcurrently(jobs) {
  return Promise.all(jobs.map(({ runtime, cmd, cmdArgs }) =>
    new Promise((resolveRun) => {
      console.log(`\n$ [${runtime}] ${cmd} ${cmdArgs.join(" ")}`);
      const child = spawn(cmd, cmdArgs, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on("line", (line) => console.log(`[${runtime}] ${line}`));
      }
      child.on("error", (err) => {
        console.log(`[${runtime}] could not start: ${err.message}`);
        resolveRun(1);
      });
      child.on("close", (code) => resolveRun(code ?? 1));
    })
  ));
}

const runtimes = [only !== "--bun-only" && "deno", only !== "--deno-only" && "bun"].filter(Boolean);
/** Runs: { runtime, rc, report } for each runner started. */
const results = [];
const serial = args.includes("--serial") || process.env.TEST_SERIAL === "1";
if (filters.length === 0 && !only && !serial) {
  // A full run of both runtimes: unit and integration tests of Deno and Bun at the same time (each test file starts
  // emulators of its own on free ports and writes only to temporary directories), then tests/e2e alone, so the
  // compiled-binary tests with their fault timings get the machine to themselves.
  const jobs = runtimes.map((runtime) => {
    const report = join(reportDir, `${runtime}.xml`);
    const [cmd, cmdArgs] = runnerArgs(runtime, ["tests/unit/", "tests/integration/"], report);
    return { runtime, cmd, cmdArgs, report };
  });
  const codes = await runConcurrently(jobs);
  jobs.forEach((job, i) => results.push({ runtime: job.runtime, rc: codes[i], report: job.report }));
  for (const runtime of e2eRuntimes.filter((r) => runtimes.includes(r))) {
    const report = join(reportDir, `${runtime}-e2e.xml`);
    const [cmd, cmdArgs] = runnerArgs(runtime, ["tests/e2e/"], report);
    results.push({ runtime: `${runtime} e2e`, rc: run(cmd, cmdArgs), report });
  }
} else {
  for (const runtime of runtimes) {
    const report = join(reportDir, `${runtime}.xml`);
    const [cmd, cmdArgs] = runnerArgs(runtime, targetsFor(runtime), report);
    results.push({ runtime, rc: run(cmd, cmdArgs), report });
  }
}
for (const r of results) r.counts = countJunit(r.report);

let passed = 0, failed = 0, skipped = 0, ok = true;
console.log("\n== summary ==");
for (const r of results) {
  const c = r.counts ?? { passed: 0, failed: 1, skipped: 0 };
  if (!r.counts) console.log(`${r.runtime}: no JUnit report was written (exit code ${r.rc})`);
  // A runner that exits non-zero with no failing test case still failed (e.g. a file that did not load).
  if (r.rc !== 0 && c.failed === 0) c.failed = 1;
  console.log(`${r.runtime}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped (exit ${r.rc})`);
  for (const f of c.failures ?? []) console.log(`  failed: ${f.name}\n${failureSummary(f.detail)}`);
  passed += c.passed;
  failed += c.failed;
  skipped += c.skipped;
  if (r.rc !== 0) ok = false;
}
console.log(`total time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok && failed === 0 && passed > 0 ? 0 : 1);
