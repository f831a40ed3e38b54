// The progress line of long commands: written only to a terminal, rewritten in place, cleared at the end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ProgressLine } from "../../src/cli/progress-line.ts";

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, write: (t: string) => void written.push(t), written };
}

describe("progress line", () => {
  test("on a terminal: each update rewrites the line (N of M), done clears it", () => {
    const out = sink(true);
    const line = new ProgressLine(out, "poison requeue", { firstAfterMs: 0, everyMs: 0 });
    line.update("1 of 3 records looked at");
    line.update("2 of 3 records looked at");
    line.done();
    assert.deepEqual(out.written, [
      "\rpoison requeue: 1 of 3 records looked at\x1b[K",
      "\rpoison requeue: 2 of 3 records looked at\x1b[K",
      "\r\x1b[K",
    ]);
  });

  test("not a terminal (a pipe or file): nothing is written", () => {
    const out = sink(false);
    const line = new ProgressLine(out, "poison requeue", { firstAfterMs: 0, everyMs: 0 });
    line.update("1 of 3");
    line.done();
    assert.deepEqual(out.written, []);
  });

  test("a short run shows nothing: the first update waits for firstAfterMs, and done clears only what was shown", () => {
    const out = sink(true);
    const line = new ProgressLine(out, "poison requeue", { firstAfterMs: 60_000, everyMs: 0 });
    line.update("1 of 3");
    line.done();
    assert.deepEqual(out.written, []);
  });
});
