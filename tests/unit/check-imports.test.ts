// The import rules of scripts/check-imports.ts between src/, tests/ and scripts/, and its cycle finder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cycles, layerProblems } from "../../scripts/check-imports.ts";

const graph = (edges: Record<string, string[]>) =>
  new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));

test("src/ importing tests/ or scripts/ is refused", () => {
  const problems = layerProblems(graph({
    "src/a.ts": ["src/b.ts", "tests/helpers/wait.ts", "scripts/build.mjs"],
    "src/b.ts": [],
  }));
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^src\/a\.ts imports tests\/helpers\/wait\.ts: src\/ imports neither/);
  assert.match(problems[1], /^src\/a\.ts imports scripts\/build\.mjs/);
});

test("scripts may use test helpers; tests may not use scripts/lib/", () => {
  assert.deepEqual(layerProblems(graph({ "scripts/bench.ts": ["tests/helpers/seeded-store.ts"] })), []);
  const problems = layerProblems(graph({ "tests/unit/x.test.ts": ["scripts/lib/emulators.ts"] }));
  assert.deepEqual(problems, [
    "tests/unit/x.test.ts imports scripts/lib/emulators.ts: code that tests and scripts share lives in tests/helpers/",
  ]);
});

test("a test may import the script it tests only when that script reaches nothing under tests/", () => {
  assert.deepEqual(layerProblems(graph({ "tests/unit/docs.test.ts": ["scripts/gen-config-docs.ts"] })), []);
  const problems = layerProblems(graph({
    "tests/unit/bench.test.ts": ["scripts/bench.ts"],
    "scripts/bench.ts": ["scripts/other.ts"],
    "scripts/other.ts": ["scripts/bench.ts", "tests/helpers/binary.ts"],
  }));
  assert.equal(problems.length, 1);
  assert.match(problems[0], /imports scripts\/bench\.ts, which reaches tests\/helpers\/binary\.ts/);
});

test("cycles finds circles of more than one file and nothing else", () => {
  assert.deepEqual(cycles(graph({ a: ["b"], b: ["c"], c: ["a"], d: ["a"] })), [["a", "b", "c"]]);
  assert.deepEqual(cycles(graph({ a: ["b"], b: [] })), []);
});
