// `contentflow-worker version`
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { runtimeName } from "../runtime/index.ts";
import pkg from "../../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

export const versionCommand: Command = {
  name: "version",
  summary: "Print the version and the runtime",
  help: `Usage: contentflow-worker version [--json]

Options:
  --json       print {"version","runtime"} as JSON
  -h, --help   show this help`,
  async run(argv) {
    const { flags } = parseArgs(argv, { json: "boolean" });
    if (flags.json) process.stdout.write(JSON.stringify({ version: VERSION, runtime: runtimeName() }) + "\n");
    else process.stdout.write(`contentflow-worker ${VERSION} (${runtimeName()})\n`);
    return EXIT_OK;
  },
};
