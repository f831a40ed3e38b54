// Start Azurite (queue + blob) and the Cosmos DB emulator on loopback with free ports, print the settings that
// point contentflow-worker at them, and keep them running until Ctrl-C / SIGTERM (or `stop`).
//
//   deno run -A scripts/emulators.ts start [--dir .data/emulators] [--env-file .data/emulators.env]
//   deno run -A scripts/emulators.ts stop  [--dir .data/emulators]
import process from "node:process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { startEmulators } from "../tests/helpers/emulators.ts";

const USAGE = `Usage:
  emulators start [--dir DIR] [--env-file PATH]   run Azurite queue+blob and cosmosdb-server until Ctrl-C
  emulators stop  [--dir DIR]                     stop emulators started by 'start' in another terminal

Defaults: --dir .data/emulators, --env-file <dir>/emulators.env (settings for contentflow-worker).`;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(name + "="));
  return eq?.slice(name.length + 1);
}

async function start(args: string[]): Promise<void> {
  const dir = resolve(flag(args, "--dir") ?? ".data/emulators");
  const envFile = resolve(flag(args, "--env-file") ?? join(dir, "emulators.env"));
  mkdirSync(dir, { recursive: true });
  const emulators = await startEmulators({ dir });
  const lines = Object.entries(emulators.env).map(([k, v]) => `${k}='${v}'`);
  writeFileSync(envFile, lines.join("\n") + "\n", { mode: 0o600 });
  writeFileSync(
    join(dir, "pids.json"),
    JSON.stringify({
      supervisor: process.pid,
      queue: emulators.queue.pid,
      blob: emulators.blob.pid,
      cosmos: emulators.cosmos.pid,
    }),
  );
  console.log(`Azurite queue : 127.0.0.1:${emulators.queue.port}`);
  console.log(`Azurite blob  : 127.0.0.1:${emulators.blob.port}`);
  console.log(`Cosmos (http) : ${emulators.cosmosEndpoint}`);
  console.log(
    `\nSettings written to ${envFile}; load them with 'set -a; . ${envFile}; set +a' or copy them into .env:\n`,
  );
  console.log(lines.join("\n"));
  console.log("\nPress Ctrl-C to stop.");
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await emulators.stop();
    rmSync(join(dir, "pids.json"), { force: true });
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  await new Promise(() => {});
}

function stop(args: string[]): void {
  const dir = resolve(flag(args, "--dir") ?? ".data/emulators");
  const file = join(dir, "pids.json");
  if (!existsSync(file)) {
    console.log(`no emulators recorded in ${file}`);
    return;
  }
  const pids = JSON.parse(readFileSync(file, "utf8")) as Record<string, number | undefined>;
  // The starter stops its emulators on SIGTERM; kill the emulators directly too in case it is gone.
  for (const [name, pid] of Object.entries(pids)) {
    if (!pid) continue;
    try {
      process.kill(pid, name === "supervisor" ? "SIGTERM" : "SIGKILL");
      console.log(`stopped ${name} (pid ${pid})`);
    } catch {
      console.log(`${name} (pid ${pid}) was not running`);
    }
  }
  rmSync(file, { force: true });
}

const [command, ...rest] = process.argv.slice(2);
if (command === "start") await start(rest);
else if (command === "stop") stop(rest);
else {
  console.log(USAGE);
  process.exit(command === "--help" || command === "-h" ? 0 : 2);
}
