// Local emulators for development and tests: Azurite queue + blob (separate processes, disk-backed queue:
// the in-memory queue stalls after a few thousand deletes) and @vercel/cosmosdb-server over plain HTTP.
// All on 127.0.0.1 with free ports. Each can be stopped and started again on the same port (outage tests).
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, Socket } from "node:net";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import { sleep } from "./wait.ts";

export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/** cosmosdb-server ignores the key; this is the well-known emulator key. */
export const COSMOS_EMULATOR_KEY =
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");

export async function freePort(): Promise<number> {
  return await new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function canConnect(port: number): Promise<boolean> {
  return await new Promise((res) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(500);
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.once("timeout", () => done(false));
    s.connect(port, "127.0.0.1");
  });
}

export async function waitForPort(port: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** Node is on every machine we target; the emulators are plain Node programs. */
function nodeBinary(): string {
  return process.env.CFW_NODE ?? "node";
}

export class EmulatorProcess {
  private child?: ChildProcess;
  private output = "";

  constructor(readonly name: string, readonly port: number, private readonly argv: string[]) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.output = "";
    const child = spawn(nodeBinary(), this.argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d) => (this.output = (this.output + d).slice(-4000)));
    child.stderr?.on("data", (d) => (this.output = (this.output + d).slice(-4000)));
    this.child = child;
    try {
      await waitForPort(this.port);
    } catch (err) {
      throw new Error(`${this.name} did not start: ${(err as Error).message}\n${this.output}`);
    }
  }

  /**
   * SIGKILL (an outage, or the end of a test) by default; waits until the process is gone. Azurite saves its
   * metadata only now and then, so a killed Azurite forgets recent queues and messages: an outage that must not lose
   * data stops it with SIGTERM (Azurite saves on a graceful close).
   */
  async stop(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }
}

export interface Emulators {
  dir: string;
  queue: EmulatorProcess;
  blob: EmulatorProcess;
  cosmos: EmulatorProcess;
  /** Settings (env names) that point the worker at these emulators. */
  env: Record<string, string>;
  queueConnectionString: string;
  blobConnectionString: string;
  cosmosEndpoint: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Directory for Azurite's data; a temporary one (removed on stop) when omitted. */
  dir?: string;
  queue?: boolean;
  blob?: boolean;
  cosmos?: boolean;
}

export async function startEmulators(opts: StartOptions = {}): Promise<Emulators> {
  const tempDir = !opts.dir;
  const dir = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), "cfw-emu-"));
  mkdirSync(join(dir, "queue"), { recursive: true });
  mkdirSync(join(dir, "blob"), { recursive: true });
  const [qPort, bPort, cPort] = [await freePort(), await freePort(), await freePort()];
  const azurite = join(ROOT, "node_modules", "azurite", "dist", "src");
  const common = ["--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"];
  const queue = new EmulatorProcess("azurite-queue", qPort, [
    join(azurite, "queue", "main.js"),
    "--location",
    join(dir, "queue"),
    "--queueHost",
    "127.0.0.1",
    "--queuePort",
    String(qPort),
    ...common,
  ]);
  const blob = new EmulatorProcess("azurite-blob", bPort, [
    join(azurite, "blob", "main.js"),
    "--location",
    join(dir, "blob"),
    "--blobHost",
    "127.0.0.1",
    "--blobPort",
    String(bPort),
    ...common,
  ]);
  const cosmos = new EmulatorProcess("cosmosdb-server", cPort, [
    join(ROOT, "node_modules", "@vercel", "cosmosdb-server", "lib", "cli.js"),
    "-p",
    String(cPort),
    "--host",
    "127.0.0.1",
    "--no-ssl",
  ]);
  const wanted = [
    opts.queue !== false ? queue : undefined,
    opts.blob !== false ? blob : undefined,
    opts.cosmos !== false ? cosmos : undefined,
  ].filter((e): e is EmulatorProcess => !!e);
  // If one does not come up, stop the others too: a failed start must not leave emulators running.
  const started = await Promise.allSettled(wanted.map((e) => e.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.allSettled(wanted.map((e) => e.stop()));
    if (tempDir) rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }

  const queueConnectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};QueueEndpoint=http://127.0.0.1:${qPort}/${AZURITE_ACCOUNT};`;
  const blobConnectionString =
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=http://127.0.0.1:${bPort}/${AZURITE_ACCOUNT};`;
  const cosmosEndpoint = `http://127.0.0.1:${cPort}`;
  const env: Record<string, string> = {
    STORAGE_QUEUE_CONNECTION_STRING: queueConnectionString,
    BLOB_STORAGE_CONNECTION_STRING: blobConnectionString,
    BLOB_STORAGE_ACCOUNT_NAME: AZURITE_ACCOUNT,
    COSMOS_DB_ENDPOINT: cosmosEndpoint,
    COSMOS_DB_KEY: COSMOS_EMULATOR_KEY,
    COSMOS_DB_ENDPOINT_DISCOVERY: "false",
    COSMOS_DB_CREATE_CONTAINERS: "true",
    AZURE_TOKEN_CREDENTIALS: "dev",
    // Tests run their fake services and emulators on loopback, which the outbound policy refuses by default.
    OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
  };
  return {
    dir,
    queue,
    blob,
    cosmos,
    env,
    queueConnectionString,
    blobConnectionString,
    cosmosEndpoint,
    async stop() {
      await Promise.all([queue.stop(), blob.stop(), cosmos.stop()]);
      if (tempDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
