// `contentflow-worker pipeline check` through the compiled binary: the web UI's templates and the library's samples
// (tests/fixtures/contentflow-pipelines, made by scripts/extract-contentflow-pipelines.ts) each give exactly the
// result in expectations.json; exit codes, --json and --pipeline ID (read from the Cosmos emulator).
//
// When an executor is added, the expected problems change: rerun with UPDATE_EXPECTATIONS=1 to rewrite
// expectations.json from the binary's output, and review the diff.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ensureBinary, ROOT } from "../helpers/binary.ts";
import { type Emulators, startEmulators } from "../../scripts/lib/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import { openCosmosStore } from "../../src/store/cosmos.ts";
import { uniqueName } from "../helpers/wait.ts";

const FIXTURES = join(ROOT, "tests", "fixtures", "contentflow-pipelines");
const EXPECTATIONS = join(FIXTURES, "expectations.json");

/** A worker's environment as the reference deployment gives it (the blob account from contentflow.common.*). */
const WORKER_ENV = { BLOB_STORAGE_ACCOUNT_NAME: "contentflowcheck" };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBinary(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(ensureBinary(), args, {
    cwd: mkdtempSync(join(tmpdir(), "cfw-check-")),
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((r) => child.once("close", (code) => r({ code, stdout, stderr })));
}

function fixtureFiles(): string[] {
  return ["web-templates", "library-samples"].flatMap((dir) =>
    readdirSync(join(FIXTURES, dir)).filter((f) => f.endsWith(".yaml")).sort().map((f) => join(FIXTURES, dir, f))
  );
}

interface CheckJson {
  valid: boolean;
  results: Array<{
    source: string;
    pipeline?: string;
    valid: boolean;
    problems: Array<{ executor?: string; setting?: string; message: string }>;
  }>;
}

/** Per fixture (path relative to the fixtures folder): "valid", or its problems as "[pipeline] executor 'x': …". */
function summarize(out: CheckJson): Record<string, "valid" | string[]> {
  const perSource = new Map<string, CheckJson["results"]>();
  for (const r of out.results) perSource.set(r.source, [...(perSource.get(r.source) ?? []), r]);
  const summary: Record<string, "valid" | string[]> = {};
  for (const [source, results] of perSource) {
    const key = relative(FIXTURES, source);
    const several = results.length > 1;
    const problems = results.flatMap((r) =>
      r.problems.map((p) =>
        `${several ? `[${r.pipeline}] ` : ""}${
          p.executor !== undefined ? `executor '${p.executor}': ` : ""
        }${p.message}`
      )
    );
    summary[key] = problems.length === 0 ? "valid" : problems;
  }
  return summary;
}

describe("pipeline check: ContentFlow's own pipelines through the compiled binary", () => {
  test("the 12 web UI templates and 47 library samples are all there", () => {
    const files = fixtureFiles().map((f) => relative(FIXTURES, f));
    assert.equal(files.filter((f) => f.startsWith("web-templates/")).length, 12);
    assert.equal(files.filter((f) => f.startsWith("library-samples/")).length, 47);
  });

  test("every fixture gives exactly the expected result", async () => {
    const files = fixtureFiles();
    const r = await runBinary(["pipeline", "check", "--json", ...files], WORKER_ENV);
    assert.equal(r.stderr, "");
    const out = JSON.parse(r.stdout) as CheckJson;
    const actual = summarize(out);
    assert.equal(r.code, out.valid ? 0 : 1, "exit code follows validity");
    if (process.env.UPDATE_EXPECTATIONS === "1") {
      writeFileSync(EXPECTATIONS, JSON.stringify(actual, null, 2) + "\n");
    }
    const expected = JSON.parse(readFileSync(EXPECTATIONS, "utf8"));
    for (const key of Object.keys({ ...expected, ...actual })) {
      assert.deepEqual(actual[key], expected[key], `${key} (UPDATE_EXPECTATIONS=1 rewrites expectations.json)`);
    }
  });

  test("text output: one line per problem naming the executor, 'ok' for a valid file; exit 0 when all valid", async () => {
    const valid = join(FIXTURES, "library-samples", "10-table-row-splitter__csv_to_rows_config.yaml");
    const ok = await runBinary(["pipeline", "check", valid], WORKER_ENV);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /10-table-row-splitter__csv_to_rows_config\.yaml \[csv_to_rows_basic\]: ok/);
    const bad = join(mkdtempSync(join(tmpdir(), "cfw-check-bad-")), "bad.yaml");
    writeFileSync(
      bad,
      "pipeline:\n  name: bad\n  executors:\n    - {id: summarizer, type: no_such_summarizer}\n" +
        "    - {id: chunk, type: recursive_text_chunker, settings: {chunk_size: 0}}\n" +
        "  execution_sequence: [summarizer, chunk]\n",
    );
    const r = await runBinary(["pipeline", "check", valid, bad], WORKER_ENV);
    assert.equal(r.code, 1);
    const lines = r.stdout.split("\n");
    assert.ok(lines.includes(`${bad}: executor 'summarizer': unknown executor type 'no_such_summarizer'`), r.stdout);
    assert.ok(
      lines.some((l) => l.startsWith(`${bad}: executor 'chunk': invalid settings: chunk_size: `)),
      r.stdout,
    );
  });

  test("usage errors exit 2; --help describes the command", async () => {
    for (const args of [["pipeline"], ["pipeline", "check"], ["pipeline", "frob"], ["pipeline", "check", "--bogus"]]) {
      const r = await runBinary(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
    const both = await runBinary(["pipeline", "check", "a.yaml", "--pipeline", "p1"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /either files or --pipeline ID/);
    const help = await runBinary(["pipeline", "check", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: contentflow-worker pipeline check FILE\.\.\./);
    const main = await runBinary(["--help"]);
    assert.match(main.stdout, /\bpipeline\b/);
  });

  test("conditions compile in the binary: regex_match on RE2 (bundled re2js), mixed and/or warned about", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfw-check-cond-"));
    const file = join(dir, "cond.yaml");
    writeFileSync(
      file,
      `pipeline:
  name: cond
  executors:
    - id: pt
      type: pass_through
      settings: {condition: "id.path regex_match '^(a+)+$' or data.x == 1 and data.y == 2"}
`,
    );
    const ok = await runBinary(["pipeline", "check", file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /cond\.yaml: warning: executor 'pt' \(pass_through\): condition .* mixes 'and' and 'or'/);
    // A backreference (YAML "\\1" is the two characters \1).
    writeFileSync(file, readFileSync(file, "utf8").replace("^(a+)+$", "(a)\\\\1"));
    const bad = await runBinary(["pipeline", "check", file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /executor 'pt': invalid condition: invalid regular expression .*RE2 syntax/);
  });

  test("a missing file is a problem (exit 1), not a crash", async () => {
    const r = await runBinary(["pipeline", "check", "/nonexistent/p.yaml"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "/nonexistent/p.yaml: no such file");
  });
});

describe("pipeline check --pipeline ID (Cosmos emulator)", () => {
  let emulators: Emulators;
  before(async () => {
    ensureBinary();
    emulators = await startEmulators({ queue: false, blob: false });
  });
  after(async () => await emulators?.stop());

  test("reads the document and checks its yaml; an unknown id is a problem", async () => {
    const env = { ...emulators.env, COSMOS_DB_NAME: uniqueName("check") };
    const { config } = await loadConfig({ env, dotenvPath: false });
    const store = await openCosmosStore(config);
    const yaml = readFileSync(join(FIXTURES, "web-templates", "pdf-extraction.yaml"), "utf8")
      .replace("type: azure_document_intelligence_extractor", "type: no_such_extractor");
    await store.pipelines.items.create({
      id: "pdf_document_extraction_1a2b3c4d",
      name: "PDF Document Extraction",
      yaml,
    });
    await store.pipelines.items.create({
      id: "chunk_only",
      name: "chunk",
      yaml: "pipeline:\n  name: chunk\n  executors:\n    - {id: c, type: recursive_text_chunker}\n",
    });
    store.close();

    const bad = await runBinary(["pipeline", "check", "--pipeline", "pdf_document_extraction_1a2b3c4d"], env);
    assert.equal(bad.code, 1, bad.stderr);
    assert.ok(
      bad.stdout.includes(
        "pipeline pdf_document_extraction_1a2b3c4d: executor 'doc-intel-1': unknown executor type 'no_such_extractor'",
      ),
      bad.stdout,
    );
    const good = await runBinary(["pipeline", "check", "--pipeline", "chunk_only", "--json"], env);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal(JSON.parse(good.stdout).results[0].source, "pipeline chunk_only");
    const missing = await runBinary(["pipeline", "check", "--pipeline", "nope"], env);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout.trim(), "pipeline nope: no such pipeline document");
  });
});
