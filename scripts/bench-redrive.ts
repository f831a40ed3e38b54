// Re-drive benchmark: N poison records (written in the format processing workers write them, src/queue/poison.ts,
// each with a failed execution record as a set-aside task leaves it), then `poison requeue --all` through the
// compiled binary; prints records/s. Each record costs a lease read, a Cosmos read and two etag-checked writes of
// the execution record, a send to the task queue and a delete on the poison queue; the command handles
// --concurrency records at once.
//
//   deno run -A scripts/bench-redrive.ts [--records N] [--concurrency N] [--binary PATH]
//     --records      poison records to re-drive (default 1000)
//     --concurrency  passed to poison requeue (default: the command's own, 16)
//     --binary       measure this build instead of dist/contentflow-worker (e.g. an older release, to compare)
import process from "node:process";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { intFlag, progress } from "./lib/bench-kit.ts";
import { openBench } from "./lib/bench-measure.ts";
import { namedQueue, passThroughTask, queueLength } from "../tests/helpers/seeded-store.ts";
import { uniqueName } from "../tests/helpers/wait.ts";
import { eachLimited } from "../src/util/each-limited.ts";
import { poisonRecord } from "../src/queue/poison.ts";
import { pendingExecutionDoc } from "../src/store/execution-records.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log("usage: deno run -A scripts/bench-redrive.ts [--records N] [--concurrency N] [--binary PATH]");
  process.exit(0);
}
const n = intFlag(args, "--records", 1000);
const concurrency = args.includes("--concurrency") ? intFlag(args, "--concurrency", 16) : undefined;
const otherBinary = args.includes("--binary") ? args[args.indexOf("--binary") + 1] : undefined;

const bench = await openBench(join(ROOT, ".data", "bench-redrive"));
if (otherBinary) bench.binary = resolve(otherBinary);
try {
  const queue = namedQueue(bench.emu, uniqueName("redrive-q"));
  const poison = namedQueue(bench.emu, `${queue.name}-poison`);
  await queue.create();
  await poison.create();
  const vault = uniqueName("redrive-v");
  const executions = bench.store.db.container(bench.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  progress(`writing ${n} failed execution records and ${n} poison records`);
  await eachLimited(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
    const task = passThroughTask(vault, i);
    const text = JSON.stringify(task);
    const reason = "pipeline step call failed: the service answered 503";
    await executions.items.create({
      ...pendingExecutionDoc(task, { workerId: "bench" }),
      status: "failed",
      error: reason,
      completed_at: new Date().toISOString(),
      task_failures: 3,
    });
    const record = poisonRecord({
      text,
      reason,
      dequeueCount: 3,
      workerId: "bench",
      queue: queue.name,
      messageId: crypto.randomUUID(),
      taskId: task.payload.task_id,
      executionId: task.payload.execution_id,
    });
    await poison.sendMessage(JSON.stringify(record));
  });

  const command = ["poison", "requeue", "--all", ...(concurrency ? ["--concurrency", String(concurrency)] : [])];
  progress(`${command.join(" ")} of ${n} records through ${bench.binary}`);
  const t0 = performance.now();
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(bench.binary, command, {
      env: {
        PATH: process.env.PATH ?? "",
        ...bench.emu.env,
        STORAGE_WORKER_QUEUE_NAME: queue.name,
        LOG_LEVEL: "warning",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (out.code !== 0) {
    throw new Error(`poison requeue exited with ${out.code}:\n${out.stderr}\n${out.stdout.slice(-2000)}`);
  }
  const queued = await queueLength(queue);
  const left = await queueLength(poison);
  if (queued !== n || left !== 0) {
    throw new Error(`expected ${n} tasks queued and 0 records left, got ${queued}, ${left}`);
  }
  console.log(`\nre-drive benchmark: ${n} poison records, ${command.join(" ")}, binary ${bench.binary}`);
  console.log(
    `  ${seconds.toFixed(1)} s, ${(n / seconds).toFixed(1)} records/s (one command, ${
      concurrency ?? "the default number of"
    } records at once)`,
  );
} finally {
  await bench.emu.stop();
}
