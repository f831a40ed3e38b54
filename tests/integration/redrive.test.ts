// Re-drives on the emulators (Cosmos DB, Azurite queue) with a real processing worker, the command killed at the
// steps the two bugs were about: `poison requeue` killed after sending and before marking the re-drive queued, the
// worker completing the task, then the requeue run again (it must not send the completed task again); and
// `executions retry` killed after marking the record pending and before sending (run again, it must finish the
// retry, not refuse it). The task runs exactly once each time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { type RedriveDeps, type RedriveRequest, redriveTask, retryKeyFor } from "../../src/redrive/redrive-task.ts";
import { cosmosRedriveRecords } from "../../src/store/redrive.ts";
import type { ExecutionDoc } from "../../src/model/documents.ts";
import {
  callsOf,
  queueClients,
  readDoc,
  type RunningWorker,
  startWorker,
  taskMessage,
  testConfig,
  testDatabase,
  testRegistry,
  timeout,
  uniqueName,
  until,
} from "../helpers/processing-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

const PIPELINE = `pipeline:
  name: count
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}
    - {id: count, type: test_wait}
  execution_sequence: [discover, count]
`;

class Killed extends Error {}

describe("re-drive killed half way, on the emulators with a processing worker", () => {
  let emu: Emulators;
  let config: Config;
  let db: Database;
  const workers: RunningWorker[] = [];

  before(async () => {
    emu = await startEmulators();
    config = await testConfig(emu);
    db = await testDatabase(emu, config);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(
      { id: "pipe-count", name: "pipe-count", yaml: PIPELINE },
      timeout(),
    );
  });
  after(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await emu?.stop();
  });

  const executions = () => db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);

  /** A failed execution with the message that ran it; the queue of its own. */
  async function failedTask(name: string) {
    const c = await testConfig(emu, { STORAGE_WORKER_QUEUE_NAME: uniqueName(name) });
    const queue = queueClients(emu, c).tasks;
    await queue.create(timeout());
    const key = uniqueName(name);
    const task = taskMessage(key, { pipelineId: "pipe-count" });
    await executions().items.create({
      id: task.payload.execution_id,
      pipeline_id: "pipe-count",
      status: "failed",
      error: "pipeline pipe-count not found",
      task_failures: 3,
      completed_at: new Date().toISOString(),
      task_id: task.payload.task_id,
      content: task.payload.content.map((i) => i.id),
    }, timeout());
    return { config: c, queue, key, task };
  }

  /** The command's dependencies on the emulators; `kill` ends it (throws) before that record write or the send. */
  function deps(
    queue: ReturnType<typeof queueClients>["tasks"],
    kill: { beforeWrite?: number; beforeSend?: boolean } = {},
  ) {
    const records = cosmosRedriveRecords(executions());
    let writes = 0;
    const d: RedriveDeps = {
      records: {
        read: records.read,
        create: records.create,
        replace: (doc, etag) => {
          if (++writes === kill.beforeWrite) throw new Killed(`killed before record write ${writes}`);
          return records.replace(doc, etag);
        },
      },
      queue: {
        send: (text) => {
          if (kill.beforeSend) throw new Killed("killed before the send");
          return queue.sendMessage(text, timeout());
        },
      },
    };
    return d;
  }

  const request = (task: ReturnType<typeof taskMessage>, key: string, known?: ExecutionDoc): RedriveRequest => ({
    executionId: task.payload.execution_id,
    key,
    reason: "pipeline pipe-count not found",
    startFrom: ["failed", "pending"],
    known,
    message: (redriveId) => ({
      text: JSON.stringify({ ...task, payload: { ...task.payload, retry_count: 0, redrive_id: redriveId } }),
    }),
  });

  const queued = async (queue: ReturnType<typeof queueClients>["tasks"]) =>
    (await queue.getProperties(timeout())).approximateMessagesCount ?? 0;

  async function runToCompletion(c: Config, executionId: string): Promise<void> {
    const worker = startWorker(c, uniqueName("worker"), testRegistry());
    workers.push(worker);
    await until(`execution ${executionId} completed`, async () => {
      const doc = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, executionId);
      return doc?.status === "completed" ? true : undefined;
    }, 45_000);
    await until("task queue empty", async () => (await queued(queueClients(emu, c).tasks)) === 0 || undefined);
    await worker.stop();
  }

  test("poison requeue killed after the send: the worker completes the task; run again, nothing is sent", async () => {
    const { config: c, queue, key, task } = await failedTask("requeue-kill");
    // Record write 1 marks it pending with the re-drive, then the send, then write 2 would mark it queued.
    await assert.rejects(redriveTask(deps(queue, { beforeWrite: 2 }), request(task, "poison-1")), Killed);
    const half = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, task.payload.execution_id);
    assert.equal(half.status, "pending");
    assert.equal(await queued(queue), 1, "the message was sent");
    await runToCompletion(c, task.payload.execution_id);
    assert.equal(callsOf("test_wait", key), 1);

    const again = await redriveTask(deps(queue), request(task, "poison-1"));
    assert.deepEqual(again, { kind: "completed" });
    assert.equal(await queued(queue), 0, "nothing sent for the completed execution");
    const doc = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, task.payload.execution_id);
    assert.equal(doc.status, "completed");
    assert.equal(callsOf("test_wait", key), 1, "ran once");
  });

  test("executions retry killed after marking the record pending: run again, it finishes; the task runs once", async () => {
    const { config: c, queue, key, task } = await failedTask("retry-kill");
    const first = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, task.payload.execution_id);
    await assert.rejects(
      redriveTask(deps(queue, { beforeSend: true }), request(task, retryKeyFor(first)!, first)),
      Killed,
    );
    const half = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, task.payload.execution_id);
    assert.equal(half.status, "pending");
    assert.equal(half.redrive.state, "sending");
    assert.equal(await queued(queue), 0, "killed before the send");

    const key2 = retryKeyFor(half);
    assert.equal(key2, retryKeyFor(first), "the rerun finds the same retry");
    const again = await redriveTask(deps(queue), request(task, key2!, half));
    assert.equal(again.kind, "queued");
    assert.equal(await queued(queue), 1);
    const third = await redriveTask(deps(queue), request(task, key2!));
    assert.equal(third.kind, "already-queued");
    assert.equal(await queued(queue), 1, "a third run sends nothing");
    await runToCompletion(c, task.payload.execution_id);
    assert.equal(callsOf("test_wait", key), 1, "ran once");
  });
});
