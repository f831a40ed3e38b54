// `contentflow-worker config`: the effective configuration as JSON, secrets redacted, with each value's source.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { describeConfig } from "../config/redact.ts";

export const configCommand: Command = {
  name: "config",
  summary: "Print the effective configuration (secrets redacted) and where each value came from",
  help: `Usage: contentflow-worker config [--env-file PATH]

Prints the effective configuration as JSON: for every setting its value (secrets replaced by
"***redacted***", SAS signatures stripped from URLs), its source (default, .env, env, app-config) and
whether it is a secret. Values come from defaults < .env < environment < Azure App Configuration.

Options:
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help`,
  async run(argv) {
    const { flags } = parseArgs(argv, { "env-file": "string" });
    const { config, sources } = await loadEffectiveConfig(flags["env-file"] as string | undefined);
    process.stdout.write(JSON.stringify(describeConfig(config, sources), null, 2) + "\n");
    return EXIT_OK;
  },
};
