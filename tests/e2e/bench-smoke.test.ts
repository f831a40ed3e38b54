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
      new RegExp(
        `contentflow-worker: ${number} tasks/s +\\(ratio ${number} to the queue-only loop, ${number} to the loop with Cosmos calls\\)$`,
        "m",
      ),
      new RegExp(
        `CPU per task: workers ${number} ms, bare loop \\((Bun|Deno) [^)]+\\) ${number} ms with the SDKs' HTTP client \\(ratio ${number}\\), ${number} ms over fetch in processes of their own \\(ratio ${number}\\); supervisor ${number} ms`,
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
