// `contentflow-worker config`: the effective configuration as JSON, secrets redacted, with each value's source.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { type ConfigEntry, describeConfig } from "../config/redact.ts";

export const configCommand: Command = {
  name: "config",
  summary: "Print the effective configuration (secrets redacted) and where each value came from",
  help: `Usage: contentflow-worker config [--env-file PATH]

Prints the effective configuration as JSON: for every setting its value (secrets replaced by
"***redacted***", SAS signatures stripped from URLs), its source (default, .env, env, app-config) and
whether it is a secret; values from Azure App Configuration also name the key they were read from ("key":
"contentflow.common.COSMOS_DB_ENDPOINT", say). Values come from defaults < .env < environment < Azure App
Configuration, where contentflow.common.* is read first and APP_CONFIG_KEY_FILTERS (default contentflow.worker.*)
after it, so a worker key wins over a common one.

Options:
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help`,
  async run(argv) {
    const { flags } = parseArgs(argv, { "env-file": "string" });
    const { config, sources, appConfigKeys } = await loadEffectiveConfig(flags["env-file"] as string | undefined);
    const described: Record<string, ConfigEntry & { key?: string }> = describeConfig(config, sources);
    for (const [name, key] of Object.entries(appConfigKeys)) {
      if (described[name]) described[name] = { ...described[name], key };
    }
    process.stdout.write(JSON.stringify(described, null, 2) + "\n");
    return EXIT_OK;
  },
};
