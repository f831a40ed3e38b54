import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

declare const Deno: any;
const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");
const CWD = mkdtempSync(join(tmpdir(), "cfw-cli-"));

function cli(args: string[], env: Record<string, string> = {}) {
  const [command, pre] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", MAIN]]
    : [process.execPath, [MAIN]];
  const r = spawnSync(command, [...pre, ...args], {
    cwd: CWD,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cli", () => {
  test("--help lists the commands", () => {
    const r = cli(["--help"]);
    assert.equal(r.code, 0);
    for (const c of ["supervisor", "worker", "enqueue", "status", "config", "version"]) {
      assert.match(r.stdout, new RegExp(`\\b${c}\\b`));
    }
  });

  test("each command has --help", () => {
    for (const c of ["worker", "enqueue", "status", "config", "version", "supervisor"]) {
      const r = cli([c, "--help"]);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, /^Usage: contentflow-worker/, c);
    }
  });

  test("version", () => {
    const r = cli(["version"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^contentflow-worker \d+\.\d+\.\d+\n/);
    assert.match(r.stdout, /^commit: +unknown \(run from source\)$/m);
    assert.match(r.stdout, /^runtime: +(deno|bun)$/m);
    const json = cli(["version", "--json"]);
    assert.equal(json.code, 0);
    const info = JSON.parse(json.stdout);
    assert.deepEqual(Object.keys(info).sort(), ["build_date", "commit", "runtime", "target", "version"]);
    assert.match(info.runtime, /^(deno|bun)$/);
  });

  const usage: Array<[string[], RegExp]> = [
    [["--bogus"], /unknown option --bogus/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["worker"], /--role=processing\|source is required/],
    [["worker", "--role=bogus"], /unknown role 'bogus'/],
    [["worker", "--role=processing", "--once"], /--once is only for --role=source/],
    [["worker", "--role=source", "--vault", "v1"], /--vault goes with --once/],
    [["worker", "--role"], /--role needs a value/],
  ];
  for (const [args, message] of usage) {
    test(`usage error: ${args.join(" ")}`, () => {
      const r = cli(args);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0], message);
    });
  }

  test("bad config value: exit 78 naming the variable", () => {
    const r = cli(["config"], { NUM_PROCESSING_WORKERS: "abc" });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /NUM_PROCESSING_WORKERS="abc": expected a whole number/);
    assert.doesNotMatch(r.stderr, /\s+at\s/, "no stack trace");
  });

  test("missing queue URL: the worker refuses to start with exit 78", () => {
    const r = cli(["worker", "--role=processing"], { COSMOS_DB_ENDPOINT: "https://x.documents.azure.com:443/" });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /STORAGE_ACCOUNT_WORKER_QUEUE_URL is missing/);
  });

  test("executions retry --status other than failed says that only failed executions can be retried", () => {
    for (const status of ["completed", "pending"]) {
      const r = cli(["executions", "retry", "--status", status, "--pipeline", "p"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--status ${status}: only failed executions can be retried`));
    }
  });

  test("config prints sources and never a secret", () => {
    const r = cli(["config"], { COSMOS_DB_KEY: "c2VjcmV0LWtleQ==", API_PORT: "9001" });
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assert.equal(view.API_PORT.value, 9001);
    assert.equal(view.API_PORT.source, "env");
    assert.equal(view.COSMOS_DB_KEY.value, "***redacted***");
    assert.ok(!r.stdout.includes("c2VjcmV0"));
  });
});
