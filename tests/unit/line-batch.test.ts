// Stdout lines of a supervised worker, written in one batch per event-loop turn (src/log/line-batch.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { LineBatch, MAX_BATCH_CHARS } from "../../src/log/line-batch.ts";

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
});
