// A source worker that cannot read vaults and pipelines says why in its readiness reason: the service, its endpoint
// and the kind of failure (here Cosmos DB refusing an identity without a data-plane role), not a bare message.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { loadConfig } from "../../src/config/load.ts";
import { MemoryReporter, type WorkerContext } from "../../src/model/worker-context.ts";
import { Logger } from "../../src/log/logger.ts";
import { runSourceWorker } from "../../src/workers/source/index.ts";
import { until } from "../helpers/wait.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

let cosmos: Server;
let port = 0;
before(async () => {
  cosmos = createServer((_req, res) => {
    res.writeHead(403, { "content-type": "application/json", "x-ms-activity-id": "a1", "x-ms-substatus": "5301" });
    res.end(JSON.stringify({
      code: "Forbidden",
      message: "Request blocked by Auth acct : principal [p] does not have required RBAC permissions to perform " +
        "action [Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery].",
    }));
  });
  await new Promise<void>((r) => cosmos.listen(0, "127.0.0.1", () => r()));
  port = (cosmos.address() as { port: number }).port;
});
after(async () => await new Promise<void>((r) => cosmos.close(() => r())));

test("source worker: 'cannot read vaults/pipelines' names Cosmos DB, its endpoint and the missing role", async () => {
  const { config } = await loadConfig({
    env: {
      COSMOS_DB_ENDPOINT: `http://127.0.0.1:${port}/`,
      COSMOS_DB_KEY: Buffer.from("not-a-real-key").toString("base64"),
      COSMOS_DB_ENDPOINT_DISCOVERY: "false",
      STORAGE_QUEUE_CONNECTION_STRING:
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;",
      SCHEDULER_SLEEP_INTERVAL_SECONDS: "1",
    },
    dotenvPath: false,
  });
  const drain = new AbortController();
  const reporter = new MemoryReporter();
  const ctx: WorkerContext = {
    config,
    logger: new Logger({ role: "source", worker_id: "reason-1" }),
    role: "source",
    index: 0,
    workerId: "reason-1",
    drain: drain.signal,
    report: reporter,
  };
  const loop = runSourceWorker(ctx);
  try {
    const reason = await until(
      "a readiness reason",
      () => reporter.readyReason?.startsWith("cannot read") ? reporter.readyReason : undefined,
      20_000,
    );
    assert.equal(reporter.ready, false);
    assert.match(
      reason,
      new RegExp(
        `^cannot read vaults/pipelines: Cosmos DB at http://127\\.0\\.0\\.1:${port}: access denied \\(403\\): the ` +
          `identity lacks a role, it needs Cosmos DB Built-in Data Contributor`,
      ),
    );
  } finally {
    drain.abort();
    await loop;
  }
});
