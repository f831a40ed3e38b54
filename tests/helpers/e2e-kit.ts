// Shared pieces of the end-to-end tests: the emulators, the compiled binary and its environment for one test file
// (e2eEnv), the binary as supervisors (tests/helpers/binary-run.ts), seeded Cosmos, a slow HTTP service for the
// `http` executor, and a TCP proxy that can cut a service off (the Cosmos emulator keeps its data only in memory, so
// an outage is simulated between the binary and it). For files that start the binary with settings of their own:
// a process watched line by line (watchProcess), the port of the API that waits for App Configuration, and one
// pipeline of their own in Cosmos with tasks enqueued through the binary (storeOwnPipeline, enqueueItem).
import process from "node:process";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { createServer as createHttpServer, type Server } from "node:http";
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { CosmosClient, type Database } from "@azure/cosmos";
import { type Emulators, freePort, startEmulators } from "./emulators.ts";
import { BinaryRun } from "./binary-run.ts";
import { basicEnv, ensureBinary, type Finished, startBinary, type StartedBinary } from "./binary.ts";
import { executionsOfVault, type ExecutionTimes, seedCosmos, type SeededStore } from "./seeded-store.ts";
import { sleep, uniqueName, until } from "./wait.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";

export { freePort, sleep, uniqueName, until };
export type { Finished };

/** The emulators, the compiled binary and its environment for one end-to-end test file. */
export interface E2eEnv {
  emu: Emulators;
  binary: string;
  /** The Cosmos database the binary uses, seeded with the pass-through pipeline (tests/helpers/seeded-store.ts). */
  store: SeededStore;
  /** What the binary is started with: PATH, the emulators' settings, LOG_LEVEL=warning and the test file's extras. */
  env: Record<string, string>;
  /** Starts `binary args` in a directory of its own; `env` goes on top of the file's environment. */
  start(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): StartedBinary;
  /** start(…).finished */
  run(args: string[], opts?: { env?: Record<string, string>; timeoutMs?: number }): Promise<Finished>;
  /** Stops the emulators (call in `after`). */
  stop(): Promise<void>;
}

/** Builds the binary if stale, starts the emulators and seeds Cosmos; `env` is added to the binary's environment. */
export async function e2eEnv(env: Record<string, string> = {}): Promise<E2eEnv> {
  const binary = ensureBinary();
  const emu = await startEmulators();
  try {
    const store = await seedCosmos(emu);
    const fullEnv = { ...basicEnv(), ...emu.env, LOG_LEVEL: "warning", ...env };
    const cwd = mkdtempSync(join(tmpdir(), "cfw-e2e-"));
    const start: E2eEnv["start"] = (args, opts = {}) =>
      startBinary(binary, args, { cwd, env: { ...fullEnv, ...opts.env }, timeoutMs: opts.timeoutMs });
    return {
      emu,
      binary,
      store,
      env: fullEnv,
      start,
      run: (args, opts) => start(args, opts).finished,
      stop: () => emu.stop(),
    };
  } catch (err) {
    await emu.stop();
    throw err;
  }
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Supervisors started by a test; `killAll` in `after` so no binary outlives a failed test. */
export class Fleet {
  readonly runs: BinaryRun[] = [];

  constructor(private readonly binary: string, private readonly emu: Emulators) {}

  async start(queue: string, env: Record<string, string> = {}, opts: { detached?: boolean } = {}): Promise<BinaryRun> {
    const run = await BinaryRun.start(this.binary, {
      ...this.emu.env,
      WORKER_NAME: uniqueName("fault"),
      STORAGE_WORKER_QUEUE_NAME: queue,
      NUM_PROCESSING_WORKERS: "2",
      NUM_SOURCE_WORKERS: "0",
      ...env,
    }, opts);
    this.runs.push(run);
    return run;
  }

  async killAll(): Promise<void> {
    for (const run of this.runs) {
      const kids = await run.children().catch(() => []);
      await run.stop("SIGKILL").catch(() => undefined);
      for (const k of kids) if (k.pid && alive(k.pid)) process.kill(k.pid, "SIGKILL");
    }
  }
}

export type SlowService = Awaited<ReturnType<typeof slowService>>;

/** An e2eEnv with supervisors to start (`fleet`) and the slow HTTP service their pipelines call (`slow`). */
export interface E2eFleetEnv extends E2eEnv {
  fleet: Fleet;
  slow: SlowService;
}

/** e2eEnv plus a Fleet and the slow service; `stop` kills the supervisors, closes the service, stops the emulators. */
export async function e2eFleetEnv(env: Record<string, string> = {}): Promise<E2eFleetEnv> {
  const e = await e2eEnv(env);
  const fleet = new Fleet(e.binary, e.emu);
  const slow = await slowService().catch(async (err) => {
    await e.stop();
    throw err;
  });
  return {
    ...e,
    fleet,
    slow,
    async stop() {
      await fleet.killAll();
      await slow.close();
      await e.stop();
    },
  };
}

/** Waits until `n` executions of `vault` are completed or failed; returns them all. */
export async function finishedExecutions(
  store: SeededStore,
  vault: string,
  n: number,
  ms = 90_000,
): Promise<ExecutionTimes[]> {
  return await until(`${n} executions of ${vault} finished`, async () => {
    const docs = await executionsOfVault(store, vault);
    return docs.filter((d) => d.status === "completed" || d.status === "failed").length >= n ? docs : undefined;
  }, ms);
}

/**
 * An HTTP service that answers `POST /slow?ms=N` with `{"ok":true}` after N ms. It is the side effect the fault
 * tests count: every request is recorded under the content item it carries (the `http` executor posts one item per
 * request; its `id.unique_id` is `<vault>-<n>`), so a task run twice shows up as two calls.
 */
export async function slowService() {
  let requests = 0;
  const calls = new Map<string, number>();
  const server: Server = createHttpServer((req, res) => {
    requests++;
    const ms = Number(new URL(req.url ?? "/", "http://x").searchParams.get("ms") ?? 0);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let key = "(no item id)";
      try {
        key = String(JSON.parse(Buffer.concat(chunks).toString("utf8"))?.id?.unique_id ?? key);
      } catch { /* not JSON: counted under the placeholder */ }
      calls.set(key, (calls.get(key) ?? 0) + 1);
    });
    const timer = setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    }, ms);
    res.on("close", () => clearTimeout(timer));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    requests: () => requests,
    /** Calls per task of `vault` (keyed by the item's unique id). */
    callsOf: (vault: string): Map<string, number> => new Map([...calls].filter(([key]) => key.startsWith(`${vault}-`))),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/** Calls beyond the first, summed over the tasks: how many times side effects were repeated. */
export function duplicateCalls(calls: Map<string, number>): number {
  let extra = 0;
  for (const n of calls.values()) extra += Math.max(0, n - 1);
  return extra;
}

/**
 * A TCP proxy on a free loopback port to `targetPort`. `cut()` drops every connection and closes the listening
 * socket, so new connections are refused by the kernel at once (no runtime-specific reset behaviour: under Deno a
 * connection accepted and destroyed by node:net could leave the client waiting for its request timeout);
 * `restore()` listens on the same port again. `delayMs` holds back what the client sends by that long (the order
 * kept), so every request to the service takes at least that much longer.
 */
export async function tcpProxy(targetPort: number, opts: { delayMs?: number } = {}) {
  const sockets = new Set<Socket>();
  const handle = (client: Socket) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    if (opts.delayMs) {
      client.on("data", (chunk: Buffer) => setTimeout(() => upstream.write(chunk), opts.delayMs));
      upstream.pipe(client);
    } else client.pipe(upstream).pipe(client);
  };
  const listen = async (port: number): Promise<TcpServer> => {
    const server = createTcpServer(handle);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    return server;
  };
  let server: TcpServer | undefined = await listen(0);
  const port = (server.address() as { port: number }).port;
  const closeServer = () => {
    const s = server;
    server = undefined;
    return s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
  };
  return {
    port,
    cut() {
      const closed = closeServer();
      for (const s of sockets) s.destroy();
      sockets.clear();
      return closed;
    },
    async restore() {
      server = await until("proxy port free again", () => listen(port), 10_000);
    },
    close: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
      return closeServer();
    },
  };
}

/** Pipeline YAML: discovery (already run by the source side) + the executors given as YAML flow maps. */
export function pipelineYaml(name: string, executors: string[]): string {
  return `pipeline:
  name: ${name}
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}
${executors.map((e) => `    - ${e}`).join("\n")}
  execution_sequence: [discover, ${executors.map((e) => /id: ([\w-]+)/.exec(e)![1]).join(", ")}]
`;
}

/** A process a test started, its output collected line by line as it comes (stderr lines prefixed "stderr: "). */
export interface WatchedProcess {
  proc: ChildProcess;
  lines: string[];
  /** The exit code (null when a signal ended the process). */
  exited: Promise<number | null>;
  /** The output lines that are JSON log records, parsed. */
  records(): Record<string, unknown>[];
  /**
   * Sends SIGTERM through process.kill: under Deno, ChildProcess.kill("SIGTERM") reports the exit as that signal
   * (code null) even when the process handles it and exits 0.
   */
  terminate(): void;
  /** SIGKILL unless it has exited, then waits for the exit (for `after`). */
  kill(): Promise<void>;
}

/** Starts `command args` in `cwd` with exactly `env` and watches its output. */
export function watchProcess(
  command: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
): WatchedProcess {
  const proc = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  createInterface({ input: proc.stdout! }).on("line", (l) => lines.push(l));
  createInterface({ input: proc.stderr! }).on("line", (l) => lines.push(`stderr: ${l}`));
  return {
    proc,
    lines,
    exited,
    records: () =>
      lines.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    terminate: () => process.kill(proc.pid!, "SIGTERM"),
    async kill() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** The port of the API a supervisor serves while it waits for App Configuration, from its log line. */
export function waitingApiPort(watched: WatchedProcess): Promise<number> {
  return until("the waiting API's listening line", () => {
    const r = watched.records().find((r) => r.msg === "api listening while waiting for App Configuration");
    return r ? r.port as number : undefined;
  }, 60_000);
}

/**
 * For a file that starts the binary with settings of its own instead of e2eEnv's seeded store: the configuration
 * `env` gives, its Cosmos containers, and `pipeline` stored in them.
 */
export async function storeOwnPipeline(
  emu: Emulators,
  env: Record<string, string>,
  pipeline: { id: string; name: string; yaml: string },
): Promise<{ config: Config; db: Database }> {
  const config = (await loadConfig({ env, dotenvPath: false })).config;
  const cosmos = new CosmosClient({
    endpoint: emu.cosmosEndpoint,
    key: emu.env.COSMOS_DB_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  await ensureCosmosContainers(cosmos, config);
  const db = cosmos.database(config.COSMOS_DB_NAME);
  await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert(pipeline);
  return { config, db };
}

/** `binary enqueue --pipeline <pipelineId> --json <item>`, which must succeed. */
export function enqueueItem(
  binary: string,
  pipelineId: string,
  item: string,
  opts: { cwd: string; env: Record<string, string> },
): void {
  const queued = spawnSync(binary, ["enqueue", "--pipeline", pipelineId, "--json", item], {
    cwd: opts.cwd,
    env: opts.env,
    encoding: "utf8",
  });
  assert.equal(queued.status, 0, queued.stdout + queued.stderr);
}

/** The execution records of one pipeline. */
export async function executionsOfPipeline(
  db: Database,
  config: Config,
  pipelineId: string,
): Promise<Array<Record<string, unknown>>> {
  const { resources } = await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
    query: "SELECT * FROM c WHERE c.pipeline_id = @p",
    parameters: [{ name: "@p", value: pipelineId }],
  }).fetchAll();
  return resources;
}
