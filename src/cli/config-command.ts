// `contentflow-worker config`: the effective configuration as JSON, secrets redacted, with each value's source.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { type ConfigEntry, describeConfig } from "../config/redact.ts";
import { apiExposureWarning, configWarnings, settingOrigins } from "../config/explain.ts";

export const configCommand: Command = {
  name: "config",
  summary: "Print the effective configuration (secrets redacted) and where each value came from",
  help: `Usage: contentflow-worker config [--env-file PATH]

Prints the effective configuration as JSON: for every setting its value (secrets replaced by
"***redacted***", SAS signatures stripped from URLs), its source (default, .env, env, app-config), whether it
is a secret, and "origin": which source won and why. Values from Azure App Configuration also name the key
they were read from ("key": "contentflow.common.COSMOS_DB_ENDPOINT", say) and its "label" when it has one.

Values come from defaults < .env < environment < Azure App Configuration. In App Configuration the unlabelled
keys are read first, then each label of APP_CONFIG_LABEL in order; within each, contentflow.common.* comes
first and APP_CONFIG_KEY_FILTERS (default contentflow.worker.*) after it, so a worker key wins over a common
one and a labelled key over an unlabelled one. A setting named in APP_CONFIG_LOCAL_OVERRIDES keeps its value
from the environment or env file over App Configuration ("origin": "environment (local override over App
Configuration key …)"). Warnings (an API open to the network without API_TOKEN, local values App
Configuration replaces) go to stderr, and the API_HOST entry carries the first as "warning".

Options:
  --env-file PATH   read this env file instead of ./.env, as systemd's EnvironmentFile= reads it (comments only
                    on lines starting with # or ;), e.g. /etc/contentflow-worker/env
  -h, --help        show this help`,
  async run(argv) {
    const { flags } = parseArgs(argv, { "env-file": "string" });
    const loaded = await loadEffectiveConfig(flags["env-file"] as string | undefined);
    const { config, sources, appConfigKeys, appConfigLabels } = loaded;
    const origins = settingOrigins(loaded);
    const described: Record<string, ConfigEntry & { origin?: string; key?: string; label?: string; warning?: string }> =
      {};
    for (const [name, entry] of Object.entries(describeConfig(config, sources))) {
      const setting = name as keyof typeof origins;
      const key = appConfigKeys[setting];
      const label = appConfigLabels?.[setting];
      described[name] = {
        ...entry,
        origin: origins[setting],
        ...(key ? { key } : {}),
        ...(label ? { label } : {}),
      };
    }
    const exposure = apiExposureWarning(config);
    if (exposure) described.API_HOST = { ...described.API_HOST, warning: exposure };
    for (const warning of configWarnings(loaded)) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(JSON.stringify(described, null, 2) + "\n");
    return EXIT_OK;
  },
};
