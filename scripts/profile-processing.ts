// CPU per task of one processing worker run from source, beside the bare SDK loop making the same queue and Cosmos
// calls in the same run. CPU time (user + system, from /proc) is robust on a loaded machine where wall-clock
// throughput is not. With --cpu-prof the worker runs under its runtime's sampling profiler; the profile, the runtime's
// Markdown summary (self time per function, Bun) and a summary by origin (our code, Azure SDKs, other libraries,
// runtime; scripts/lib/profile-summary.ts, also printed) go to the profile directory.
//
//   deno run -A scripts/profile-processing.ts [--tasks N] [--cpu-prof] [--runtime deno|bun|binary] [--log-level L]
//     --tasks      pass-through tasks for each of the two runs (default 2000)
//     --cpu-prof   profile the worker (Deno or Bun); the files go to .data/profile-processing/prof
//     --runtime    what runs the worker: deno or bun from source, or the compiled binary (default deno)
//     --log-level  LOG_LEVEL of the worker (default: the setting's default, info)
//     --env K=V    another setting of the worker (repeatable), e.g. PROCESSING_CONCURRENCY=32 or SDK_HTTP_CLIENT=node
import process from "node:process";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { startEmulators } from "../tests/helpers/emulators.ts";
import { cpuSeconds, envFlags, intFlag, progress, rssMiB, textFlag } from "./lib/bench-kit.ts";
import { bareRecordCalls, sdkLoop } from "./lib/bare-loop.ts";
import {
  createVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  seedCosmos,
  seededConfig,
} from "../tests/helpers/seeded-store.ts";
import { uniqueName } from "../tests/helpers/wait.ts";
import { bareLoopProcesses } from "./lib/bench-measure.ts";
import { renderProfileSummary, summarizeProfile } from "./lib/profile-summary.ts";
import { ensureBinary } from "../tests/helpers/binary.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
const args = process.argv.slice(2);
const flag = (name: string) => textFlag(args, name);
const tasks = intFlag(args, "--tasks", 2000);
const profile = args.includes("--cpu-prof");
const runtime = flag("--runtime") ?? "deno";
const logLevel = flag("--log-level");
const workerSettings = envFlags(args);
const dataDir = join(ROOT, ".data", "profile-processing");
const profDir = join(dataDir, "prof");

rmSync(join(dataDir, "emu"), { recursive: true, force: true });
const emu = await startEmulators({ dir: join(dataDir, "emu") });
try {
  // The bare loop: one loop, 32 in flight, CPU of this process while it runs.
  const bareStore = await seedCosmos(emu, uniqueName("profdb"));
  const bareQueue = namedQueue(emu, uniqueName("prof-sdk"));
  await bareQueue.create();
  const bareVault = uniqueName("prof-sdk-vault");
  await createVault(bareStore, bareVault);
  progress(`bare loop: preloading ${tasks} tasks`);
  await preloadTasks(bareStore, bareQueue, Array.from({ length: tasks }, (_, i) => passThroughTask(bareVault, i)));
  const bare = await sdkLoop(bareQueue, 1, tasks, (text) => bareRecordCalls(bareStore, text));
  const bareRate = bare.perSecond;
  const bareCpuMs = bare.cpuMsPerMessage;
  progress(`bare loop: ${bareRate.toFixed(1)} tasks/s, ${bareCpuMs.toFixed(2)} ms CPU per task`);

  // The same loop over the fetch transport our worker uses by default, in a process of its own as the worker is.
  const bareFetch = await bareLoopProcesses(emu, bareStore, 1, tasks, runtime === "deno" ? "deno" : "bun");

  // Our worker, one process, run from source and fed its configuration the way the supervisor does.
  const store = await seedCosmos(emu, uniqueName("profdb"));
  const queueName = uniqueName("prof-tasks");
  const queue = namedQueue(emu, queueName);
  await queue.create();
  const vault = uniqueName("prof-vault");
  await createVault(store, vault);
  progress(`worker: preloading ${tasks} tasks`);
  await preloadTasks(store, queue, Array.from({ length: tasks }, (_, i) => passThroughTask(vault, i)));
  const config = await seededConfig(emu, {
    COSMOS_DB_NAME: store.config.COSMOS_DB_NAME,
    STORAGE_WORKER_QUEUE_NAME: queueName,
    WORKER_NAME: uniqueName("prof"),
    ...(logLevel ? { LOG_LEVEL: logLevel } : {}),
    ...workerSettings,
  });
  const main = join(ROOT, "src", "main.ts");
  const workerArgs = ["worker", "--role=processing", "--index=0"];
  const cmd = runtime === "binary" ? { command: ensureBinary(), args: workerArgs } : runtime === "bun"
    ? {
      command: join(ROOT, "node_modules", ".bin", "bun"),
      args: [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--cpu-prof-md"] : []), main, ...workerArgs],
    }
    : {
      command: join(ROOT, "node_modules", ".bin", "deno"),
      args: [
        "run",
        "-A",
        "--no-check",
        ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`, "--cpu-prof-md"] : []),
        main,
        ...workerArgs,
      ],
    };
  const child = spawn(cmd.command, cmd.args, {
    env: { ...process.env, ...emu.env, CFW_SUPERVISED: "1" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin!.write(JSON.stringify({ cmd: "config", config, sources: {} }) + "\n");
  let logLines = 0, logBytes = 0, stateLines = 0, stateBytes = 0, processed = 0, ready = false;
  let startCpu = 0;
  const done = Promise.withResolvers<void>();
  const readyP = Promise.withResolvers<void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (line.startsWith('{"ipc"')) {
      stateLines++;
      stateBytes += line.length;
      const state = JSON.parse(line);
      processed = state.counters.tasks_processed_total ?? 0;
      if (state.ready && !ready) {
        ready = true;
        readyP.resolve();
      }
      if (processed >= tasks) done.resolve();
    } else {
      logLines++;
      logBytes += line.length;
    }
  });
  child.once("exit", () => done.resolve());
  await readyP.promise;
  // Start-up (module loading, compiling) is not per-task work: count from ready on.
  startCpu = cpuSeconds(child.pid!) ?? 0;
  const t0 = performance.now();
  let rss: number | undefined;
  const sampler = setTimeout(() => (rss = rssMiB(child.pid!)), 3000);
  await done.promise;
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(sampler);
  const workerCpuMs = ((cpuSeconds(child.pid!) ?? NaN) - startCpu) * 1000 / tasks;
  child.stdin!.write(JSON.stringify({ cmd: "drain" }) + "\n");
  child.stdin!.end();
  await new Promise((r) => child.once("exit", r));
  const f = (n: number, d = 2) => n.toFixed(d);
  console.log(
    `\nprocessing worker (${
      runtime === "binary" ? "compiled binary" : `${runtime}, from source`
    }), ${tasks} pass-through tasks, 1 worker, ${
      Object.keys(workerSettings).length
        ? Object.entries(workerSettings).map(([k, v]) => `${k}=${v}`).join(" ")
        : "default settings"
    }`,
  );
  console.log(
    `  bare SDK loop, same calls, 32 in flight: ${f(bareCpuMs)} ms CPU per task (${
      f(bareRate, 1)
    } tasks/s) with the SDKs' HTTP client, ${f(bareFetch.cpuMsPerMessage)} ms (${
      f(bareFetch.perSecond, 1)
    } tasks/s) over fetch in a ${runtime === "deno" ? "Deno" : "Bun"} process of its own`,
  );
  console.log(`  our worker: ${f(workerCpuMs)} ms CPU per task after ready (${f(tasks / seconds, 1)} tasks/s)`);
  console.log(
    `  ratio of CPU per task, ours / bare loop: ${f(workerCpuMs / bareCpuMs)} (over fetch: ${
      f(workerCpuMs / bareFetch.cpuMsPerMessage)
    })`,
  );
  console.log(
    `  stdout to the supervisor: ${logLines} log lines (${
      Math.round(logBytes / 1024)
    } KiB), ${stateLines} state reports (${Math.round(stateBytes / 1024)} KiB)`,
  );
  console.log(`  RSS after 3 s busy: ${rss ?? "?"} MiB`);
  if (profile) {
    // The profile is written when the worker exits; summarize the newest one by origin (our code, SDKs, runtime).
    const newest = readdirSync(profDir).filter((name) => name.endsWith(".cpuprofile"))
      .map((name) => join(profDir, name)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
    console.log(`  profile: ${newest ?? `none found in ${profDir}`}`);
    if (newest) {
      const summary = renderProfileSummary(summarizeProfile(newest));
      writeFileSync(newest.replace(/\.cpuprofile$/, ".by-origin.md"), `${summary}\n`);
      console.log(`\n${summary}`);
    }
  }
} finally {
  await emu.stop();
}
