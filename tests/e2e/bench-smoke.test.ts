// The processing benchmark still runs end to end and prints its figures (a tiny run: this checks the script, not
// the speed — numbers are never asserted against a threshold).
import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../helpers/binary.ts";

test("scripts/bench-processing.ts runs a small benchmark and prints every figure", () => {
  const deno = join(ROOT, "node_modules", ".bin", "deno");
  const r = spawnSync(deno, [
    "run",
    "-A",
    "scripts/bench-processing.ts",
    "--tasks",
    "40",
    "--workers",
    "1",
    "--idle-seconds",
    "0",
  ], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  const number = String.raw`\d+(\.\d+)?`;
  for (
    const line of [
      new RegExp(`receive \\+ delete: +${number} msg/s`),
      new RegExp(
        `the task's Cosmos calls \\+ delete: ${number} tasks/s \\(the SDKs' own HTTP client\\)\\n.*the same over fetch, one loop per process in 1 process\\(es\\) of their own \\(as our workers run\\): ${number} tasks/s`,
      ),
      new RegExp(`the same, 8 in flight per process \\(as many as a worker runs at once\\): ${number} tasks/s`),
      new RegExp(
        `contentflow-worker: ${number} tasks/s +\\(ratio ${number} to the queue-only loop, ${number} to the loop with Cosmos calls\\)$`,
        "m",
      ),
      new RegExp(
        `CPU per task: workers ${number} ms, bare loop \\((Bun|Deno) [^)]+\\) ${number} ms with the SDKs' HTTP client \\(ratio ${number}\\), ${number} ms over fetch in processes of their own \\(ratio ${number}\\), ${number} ms with 8 in flight \\(ratio ${number}\\); supervisor ${number} ms`,
      ),
      new RegExp(`receive calls per task \\(calls that returned messages\\): workers ${number}, bare loop ${number}`),
      new RegExp(
        `RSS while busy \\(most sampled\\): supervisor ${number} MiB, workers ${number} MiB; a bare loop's own process \\(the SDKs, the fetch transport and the loop, nothing else\\) ${number} MiB`,
      ),
      new RegExp(`enqueue-to-start while busy: median ${number} s`),
      new RegExp(`shutdown \\(SIGTERM to exit\\): \\d+ ms`),
    ]
  ) assert.match(r.stdout, line);
  assert.doesNotMatch(r.stdout, /FAILED|NaN/);
  assert.match(r.stderr, /\[bench \d\d:\d\d:\d\d\] SDK loop x1: preloading 40 messages/, "progress on stderr");
});

test("scripts/bench-crawl.ts --quick writes a vault into Azurite, crawls it both ways and prints the table", () => {
  const deno = join(ROOT, "node_modules", ".bin", "deno");
  const r = spawnSync(deno, ["run", "-A", "scripts/bench-crawl.ts", "--quick"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /bench-crawl-3000: 3000 blobs listed in [\d.]+ s/, "the written vault lists in full");
  assert.match(r.stderr, /bare loop: 3000 blobs, 30 tasks in [\d.]+ s = \d+ blobs\/s/);
  // 100 blobs are two messages of ours (their content items exceed 64 KiB together).
  assert.match(r.stderr, /worker: 3000 blobs, 60 tasks in [\d.]+ s = \d+ blobs\/s, \d+ ms CPU per 1,000 blobs/);
  assert.match(
    r.stdout,
    /^\| 3,000 \| worker \| \d+ \| \d+ \| [\d.]+ \([\d.]+\) \| \d+ \| \d+ \/ \d+ \| 60 \/ 30 \| [\d.]+ \|$/m,
  );
  assert.doesNotMatch(r.stdout, /NaN|n\/a/);
});
