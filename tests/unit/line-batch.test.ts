// Stdout lines of a supervised worker, written in one batch per event-loop turn (src/log/line-batch.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { setImmediate } from "node:timers";
import { LineBatch, MAX_BATCH_CHARS } from "../../src/log/line-batch.ts";
import { sleep } from "../helpers/wait.ts";

const WRITER = resolve(import.meta.dirname ?? ".", "../fixtures/stdout-writer.ts");

/** Runs the writer fixture under this runtime; its stdout is read only after `readAfterMs` (or closed at once). */
async function runWriter(env: Record<string, string>, stdout: { readAfterMs: number } | "closed") {
  const [command, args] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", WRITER]]
    : [process.execPath, [WRITER]];
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => stderr += d);
  const exited = new Promise<number | null>((done) => child.on("close", (code) => done(code)));
  let out = "";
  if (stdout === "closed") child.stdout.destroy();
  else {
    child.stdout.pause();
    await sleep(stdout.readAfterMs);
    child.stdout.on("data", (d) => out += d);
    child.stdout.resume();
  }
  return { code: await exited, stderr, lines: out.split("\n").filter(Boolean) };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("LineBatch", () => {
  test("lines of one turn go out together, in order, each ending in a newline", async () => {
    const writes: string[] = [];
    const batch = new LineBatch((text) => writes.push(text));
    batch.write('{"a":1}');
    batch.write('{"ipc":"state"}');
    batch.write('{"a":2}');
    assert.deepEqual(writes, [], "nothing is written before the turn ends");
    await nextTurn();
    assert.deepEqual(writes, ['{"a":1}\n{"ipc":"state"}\n{"a":2}\n']);
    batch.write("later");
    await nextTurn();
    assert.deepEqual(writes.at(-1), "later\n");
    assert.equal(writes.length, 2);
  });

  test("a batch that reaches the size limit is written at once, the rest at the end of the turn", async () => {
    const writes: string[] = [];
    const batch = new LineBatch((text) => writes.push(text));
    const line = "x".repeat(1023);
    const perBatch = MAX_BATCH_CHARS / 1024;
    for (let i = 0; i < perBatch + 3; i++) batch.write(line);
    assert.equal(writes.length, 1);
    assert.equal(writes[0].length, MAX_BATCH_CHARS);
    await nextTurn();
    assert.equal(writes.length, 2);
    assert.equal(writes[1], `${line}\n`.repeat(3));
  });

  test("flush writes what is queued now and leaves nothing for the end of the turn", async () => {
    const writes: string[] = [];
    const batch = new LineBatch((text) => writes.push(text));
    batch.write("one");
    batch.flush();
    assert.deepEqual(writes, ["one\n"]);
    batch.flush();
    await nextTurn();
    assert.deepEqual(writes, ["one\n"], "no empty write, no second copy");
  });

  test("a reader that is late still gets every line written before the process exits", async () => {
    for (const stdoutFirst of ["0", "1"]) {
      const r = await runWriter({ LINES: "5000", STDOUT_FIRST: stdoutFirst }, { readAfterMs: 1000 });
      assert.equal(r.code, 0, r.stderr);
      const expected = 5001 + (stdoutFirst === "1" ? 1 : 0);
      assert.equal(r.lines.length, expected, `stdout used first: ${stdoutFirst}`);
      assert.equal(r.lines.at(-1), "last");
      assert.ok(r.lines.slice(stdoutFirst === "1" ? 1 : 0, -1).every((l, i) => l.startsWith(`${i} `)), "in order");
    }
  });

  test("once nobody reads stdout the lines are dropped and the process goes on", async () => {
    const r = await runWriter({ LINES: "20000" }, "closed");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^done\n$/);
  });
});
