// The task shape both versions of the ContentFlow worker README document — `content_id` and `content_data` in the
// task, with executed_input_executor, priority and max_retries — wrapped in {"task_type": "content_processing",
// "payload": …} (as the README's queue client sends it) or bare, is read as a task with one content item.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeMessage } from "../../src/queue/decode.ts";

/** The README's example task (contentflow-worker/README.md), with content_data filled in. */
const README_TASK = {
  task_id: "task_abc123",
  task_type: "content_processing",
  pipeline_id: "pipeline_xyz",
  pipeline_name: "Document Processing",
  execution_id: "exec_123",
  content_id: "content_456",
  content_data: { text: "Sample content", pages: 2 },
  executed_input_executor: "blob_input",
  priority: "high",
  max_retries: 5,
};

function decodedTask(body: unknown) {
  const d = decodeMessage(typeof body === "string" ? body : JSON.stringify(body));
  assert.equal(d.kind, "task", d.kind === "invalid" ? d.reason : "");
  if (d.kind !== "task") throw new Error("unreachable");
  return d.message.payload;
}

describe("the README task shape", () => {
  const wrapped = { task_type: "content_processing", payload: README_TASK };
  const forms: Array<[string, unknown]> = [
    ["wrapped by the queue client", wrapped],
    ["bare", README_TASK],
    ["wrapped, base64 (as Azure Functions writes)", Buffer.from(JSON.stringify(wrapped)).toString("base64")],
  ];
  for (const [what, body] of forms) {
    test(`${what}: one content item, content_id its id and content_data its data`, () => {
      const p = decodedTask(body);
      assert.deepEqual(p.content, [{
        id: { canonical_id: "content_456", unique_id: "content_456" },
        data: { text: "Sample content", pages: 2 },
        summary_data: {},
        executor_logs: [],
      }]);
      assert.equal(p.task_id, "task_abc123");
      assert.equal(p.pipeline_id, "pipeline_xyz");
      assert.equal(p.execution_id, "exec_123");
      assert.equal(p.executed_input_executor, "blob_input");
      assert.equal(p.priority, "high");
      assert.equal(p.max_retries, 5);
      assert.equal(p.retry_count, 0);
      assert.equal(p.vault_id, undefined);
      assert.ok(!("content_id" in p) && !("content_data" in p), "the README fields become the item");
    });
  }

  test("without content_data the item's data is empty; a numeric content_id is its text", () => {
    const { content_data: _, ...noData } = README_TASK;
    assert.deepEqual(decodedTask({ ...noData, content_id: 42 }).content[0].id, { canonical_id: "42", unique_id: "42" });
    assert.deepEqual(decodedTask(noData).content[0].data, {});
  });

  test("a task with `content` keeps it (content_id is then an ordinary extra field)", () => {
    const item = { id: { canonical_id: "c1", unique_id: "u1" } };
    const p = decodedTask({ task_type: "content_processing", payload: { ...README_TASK, content: [item] } });
    assert.deepEqual(p.content.map((c) => c.id.canonical_id), ["c1"]);
  });

  test("a bare task in the Python worker's own shape is read too", () => {
    const { content_id: _i, content_data: _d, ...rest } = README_TASK;
    const p = decodedTask({ ...rest, content: [{ id: { canonical_id: "c1", unique_id: "u1" } }] });
    assert.equal(p.content.length, 1);
  });

  test("a README-shaped task with a bad content_id or content_data goes to poison with a reason naming them", () => {
    for (const bad of [{ content_id: "" }, { content_data: "text" }, { content_data: [1] }, { content_id: {} }]) {
      const d = decodeMessage(JSON.stringify({ task_type: "content_processing", payload: { ...README_TASK, ...bad } }));
      assert.equal(d.kind, "invalid", JSON.stringify(bad));
      if (d.kind !== "invalid") continue;
      assert.match(d.reason, /payload\.content_id must be a non-empty string and payload\.content_data an object/);
      assert.equal(d.executionId, "exec_123", "the execution can still be marked failed");
    }
    const bare = decodeMessage(JSON.stringify({ ...README_TASK, content_data: "text" }));
    assert.equal(bare.kind, "invalid");
    if (bare.kind === "invalid") assert.equal(bare.taskId, "task_abc123");
  });

  test("neither content nor content_id: still refused as before", () => {
    const { content_id: _i, content_data: _d, ...rest } = README_TASK;
    const d = decodeMessage(JSON.stringify({ task_type: "content_processing", payload: rest }));
    assert.equal(d.kind, "invalid");
    if (d.kind === "invalid") assert.match(d.reason, /payload\.content/);
  });
});
