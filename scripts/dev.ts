// The demo (`npm run demo` / `deno task dev`): starts the emulators, seeds a demo pipeline, vault and blobs, runs
// the supervisor from source and shows the tasks flowing. Ctrl-C stops everything.
//
//   deno run -A scripts/dev.ts [--duration SECONDS] [--raw] [--port N]
//     --duration  stop by itself after this many seconds (exit 1 if no execution completed)
//     --raw       print the workers' JSON log lines as they are, instead of the compact view
//     --port      API port (default 8099, or a free one if taken)
import process from "node:process";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { CosmosClient } from "@azure/cosmos";
import { freePort, startEmulators } from "../tests/helpers/emulators.ts";
import { selfCommand } from "../src/runtime/index.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
const argValue = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(name + "="))?.slice(name.length + 1);
};
const durationSeconds = argValue("--duration") ? Number(argValue("--duration")) : undefined;
const raw = args.includes("--raw");

export const DEMO_PIPELINE_YAML = `pipeline:
  name: demo-text-pipeline
  description: Discover text and CSV files under demo/ and run them through a small pipeline
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings:
        blob_storage_account: devstoreaccount1
        blob_container_name: content
        prefix: demo/
        file_extensions: ".txt,.csv"
        batch_size: 5
        polling_interval_seconds: 10
    - id: text_only
      type: pass_through
      settings:
        condition: "id.filename ends_with '.txt'"
    - id: select
      type: field_selector
      settings:
        mode: exclude
        fields: [temp_file_path]
  execution_sequence: [discover, text_only, select]
`;

const SAMPLE_TEXT = (n: number) =>
  `Document ${n}.\n\nContentFlow pipelines turn documents into searchable chunks. ` +
  `This demo file was written at ${new Date().toISOString()}.\n\n` +
  "The source worker found it under demo/, created an execution record and queued a task. ".repeat(4) +
  "\n\nA processing worker ran the pipeline on it and completed the execution record.";

async function seed(env: Record<string, string>): Promise<{ blobs: BlobServiceClient; cosmos: CosmosClient }> {
  const cosmos = new CosmosClient({
    endpoint: env.COSMOS_DB_ENDPOINT,
    key: env.COSMOS_DB_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  const { database } = await cosmos.databases.createIfNotExists({ id: "contentflow" });
  for (const id of ["pipelines", "vaults", "vault_executions", "vault_exec_locks", "vault_crawl_checkpoints"]) {
    await database.containers.createIfNotExists({ id, partitionKey: { paths: ["/id"] } });
  }
  const now = new Date().toISOString();
  await database.container("pipelines").items.upsert({
    id: "demo_text_pipeline",
    name: "demo-text-pipeline",
    description: "Demo pipeline seeded by scripts/dev.ts",
    yaml: DEMO_PIPELINE_YAML,
    enabled: true,
    created_at: now,
    updated_at: now,
  });
  await database.container("vaults").items.upsert({
    id: "demo-vault",
    name: "Demo vault",
    pipeline_id: "demo_text_pipeline",
    pipeline_name: "demo-text-pipeline",
    save_execution_output: true,
    enabled: true,
    created_at: now,
    updated_at: now,
  });
  const blobs = BlobServiceClient.fromConnectionString(env.BLOB_STORAGE_CONNECTION_STRING);
  const content = blobs.getContainerClient("content");
  await content.createIfNotExists();
  for (let i = 1; i <= 3; i++) {
    const text = SAMPLE_TEXT(i);
    await content.getBlockBlobClient(`demo/doc-${i}.txt`).upload(text, Buffer.byteLength(text));
  }
  const csv = "name,email,amount\nAda,ada@example.com,12.5\nGrace,grace@example.com,7\n";
  await content.getBlockBlobClient("demo/orders.csv").upload(csv, Buffer.byteLength(csv));
  return { blobs, cosmos };
}

function compact(line: string): string {
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    const { time, level, msg, role, index, pid: _pid, worker: _w, worker_id: _wid, ...rest } = r;
    const who = role ? `${role}${index !== undefined ? `-${index}` : ""}` : "supervisor";
    const extras = Object.entries(rest)
      .filter(([, v]) => v !== undefined && typeof v !== "object")
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    return `${String(time).slice(11, 19)} ${String(level).padEnd(5)} ${who.padEnd(12)} ${msg}${
      extras ? "  " + extras : ""
    }`;
  } catch {
    return line;
  }
}

async function main(): Promise<number> {
  const dir = resolve(ROOT, ".data", "dev");
  rmSync(dir, { recursive: true, force: true });
  console.log("starting Azurite (queue, blob) and the Cosmos DB emulator …");
  const emulators = await startEmulators({ dir });
  let port = Number(argValue("--port") ?? 8099);
  try {
    const probe = await import("node:net");
    await new Promise<void>((res, rej) => {
      const s = probe.createServer().once("error", rej).listen(port, "127.0.0.1", () => s.close(() => res()));
    });
  } catch {
    port = await freePort();
  }
  const { blobs, cosmos } = await seed(emulators.env);
  console.log("seeded pipeline 'demo_text_pipeline', vault 'demo-vault' and 4 blobs under content/demo/");

  const env = {
    ...process.env,
    ...emulators.env,
    NUM_PROCESSING_WORKERS: "2",
    NUM_SOURCE_WORKERS: "1",
    API_HOST: "127.0.0.1",
    API_PORT: String(port),
    SCHEDULER_SLEEP_INTERVAL_SECONDS: "2",
    QUEUE_POLL_INTERVAL_SECONDS: "2",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "INFO",
  };
  const cmd = selfCommand([]);
  // selfCommand() re-runs *this* script; point it at the CLI entry instead.
  const cliArgs = cmd.args.map((a) => (a.includes("scripts/dev.ts") ? resolve(ROOT, "src/main.ts") : a));
  const supervisor = spawn(cmd.command, cliArgs, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  createInterface({ input: supervisor.stdout! }).on("line", (l) => console.log(raw ? l : compact(l)));
  console.log(
    `supervisor started (pid ${supervisor.pid}); API on ${
      port ? `http://127.0.0.1:${port}` : "the port in the 'api listening' line"
    } — try /status and /metrics`,
  );

  const executions = cosmos.database("contentflow").container("vault_executions");
  const queue = new QueueClient(emulators.queueConnectionString, "contentflow-execution-requests");
  let added = 0;
  let completed = 0;
  const progress = setInterval(async () => {
    try {
      const { resources } = await executions.items.query("SELECT c.status FROM c").fetchAll();
      const counts: Record<string, number> = {};
      for (const r of resources as Array<{ status: string }>) counts[r.status] = (counts[r.status] ?? 0) + 1;
      completed = counts.completed ?? 0;
      const depth = (await queue.getProperties().catch(() => undefined))?.approximateMessagesCount ?? 0;
      console.log(`-- executions ${JSON.stringify(counts)} · queue depth ${depth} · demo blobs added ${added}`);
      if (added < 10) {
        added++;
        const text = SAMPLE_TEXT(100 + added);
        await blobs.getContainerClient("content").getBlockBlobClient(`demo/new-${added}.txt`).upload(text, text.length);
      }
    } catch (err) {
      console.log(`-- progress check failed: ${(err as Error).message}`);
    }
  }, 10_000);

  let stopping = false;
  const stop = async (why: string): Promise<number> => {
    if (stopping) return 0;
    stopping = true;
    clearInterval(progress);
    console.log(`\n${why}: stopping the supervisor (it drains its workers) …`);
    const exited = new Promise<number>((r) => supervisor.once("exit", (code) => r(code ?? 0)));
    supervisor.kill("SIGTERM");
    const code = await exited;
    console.log(`supervisor exited with ${code}; stopping emulators`);
    await emulators.stop();
    return code;
  };
  return await new Promise<number>((resolveExit) => {
    process.on("SIGINT", () => stop("Ctrl-C").then(resolveExit));
    process.on("SIGTERM", () => stop("SIGTERM").then(resolveExit));
    supervisor.once("exit", (code) => {
      if (!stopping) {
        console.log(`supervisor exited unexpectedly with ${code}`);
        stop("supervisor gone").then(() => resolveExit(1));
      }
    });
    if (durationSeconds) {
      setTimeout(
        () => stop(`${durationSeconds} s passed`).then((c) => resolveExit(c === 0 && completed > 0 ? 0 : 1)),
        durationSeconds * 1000,
      );
    }
  });
}

if (import.meta.main) process.exit(await main());
