// One bare SDK loop in a process of its own, the way each processing worker runs in a process of its own: started
// by the benchmarks (bareLoopProcesses in scripts/lib/bench-measure.ts), never by hand. It builds its clients,
// prints "ready", waits for "go" on stdin, runs the loop (32 or `inFlight` in flight, the task's Cosmos calls,
// delete) and prints
// what it measured as one JSON line. The process loads the SDKs, the HTTP transport and the loop, nothing else of
// ours, so its CPU and memory are what the SDKs and the runtime need for this work.
//
// The spec comes as JSON in BARE_LOOP_SPEC: queueConnectionString, queueName, cosmosEndpoint, cosmosKey,
// databaseName, containers (executions, pipelines, vaults), tasks, inFlight. The clients send over the fetch transport
// (src/net/sdk-http-client.ts), as our worker does by default.
import process from "node:process";
import { createInterface } from "node:readline";
import { CosmosClient } from "@azure/cosmos";
import { QueueClient } from "@azure/storage-queue";
import { sdkHttpClient, storageHttpClient } from "../src/net/sdk-http-client.ts";
import { bareRecordCalls, sdkLoop } from "./lib/bare-loop.ts";

interface BareLoopSpec {
  queueConnectionString: string;
  queueName: string;
  cosmosEndpoint: string;
  cosmosKey: string;
  databaseName: string;
  containers: { executions: string; pipelines: string; vaults: string };
  tasks: number;
  /** Messages handled at once of each 32 received (default 32). */
  inFlight?: number;
}

const spec = JSON.parse(process.env.BARE_LOOP_SPEC ?? "null") as BareLoopSpec | null;
if (!spec) {
  console.error("bare-loop-process.ts is started by the benchmarks with BARE_LOOP_SPEC set");
  process.exit(2);
}
const queue = new QueueClient(spec.queueConnectionString, spec.queueName, { httpClient: storageHttpClient() });
const cosmos = new CosmosClient({
  endpoint: spec.cosmosEndpoint,
  key: spec.cosmosKey,
  connectionPolicy: { enableEndpointDiscovery: false },
  httpClient: sdkHttpClient(),
});
const store = {
  db: cosmos.database(spec.databaseName),
  config: {
    COSMOS_DB_CONTAINER_VAULT_EXECUTIONS: spec.containers.executions,
    COSMOS_DB_CONTAINER_PIPELINES: spec.containers.pipelines,
    COSMOS_DB_CONTAINER_VAULTS: spec.containers.vaults,
  },
};

const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.on("line", (line) => line.trim() === "go" && resolve()));
process.stdout.write("ready\n");
await go;
const run = await sdkLoop(queue, 1, spec.tasks, (text) => bareRecordCalls(store, text), spec.inFlight);
process.stdout.write(`${JSON.stringify(run)}\n`);
lines.close();
cosmos.dispose();
process.exit(0);
