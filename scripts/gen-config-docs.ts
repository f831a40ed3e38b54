// Keeps the README's configuration table and .env.example true to src/config/schema.ts.
//   deno run -A scripts/gen-config-docs.ts          rewrite both from the schema
//   deno run -A scripts/gen-config-docs.ts --check  exit 1 when either is out of date (also a unit test)
import process from "node:process";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { SETTING_NAMES, settingMeta } from "../src/config/schema.ts";

const ROOT = resolve(import.meta.dirname ?? ".", "..");
export const README = resolve(ROOT, "README.md");
export const ENV_EXAMPLE = resolve(ROOT, ".env.example");
const START = "<!-- config-table:start -->";
const END = "<!-- config-table:end -->";

const GROUP_TITLES: Record<string, string> = {
  worker: "Worker processes",
  supervisor: "Supervisor",
  queue: "Task queue",
  processing: "Processing",
  cosmos: "Cosmos DB",
  blob: "Blob storage",
  source: "Source scheduling",
  api: "HTTP API",
  logging: "Logging",
  appconfig: "Azure App Configuration",
};

function groups(): Array<[string, typeof SETTING_NAMES]> {
  const order = Object.keys(GROUP_TITLES);
  return order.map((g) => [g, SETTING_NAMES.filter((n) => settingMeta[n].group === g)]);
}

export function configTable(): string {
  const rows = ["| setting | default | description |", "|---|---|---|"];
  for (const [group, names] of groups()) {
    rows.push(`| **${GROUP_TITLES[group]}** | | |`);
    for (const name of names) {
      const meta = settingMeta[name];
      const aliases = meta.aliases?.length ? ` (also ${meta.aliases.map((a) => `\`${a}\``).join(", ")})` : "";
      const secret = meta.secret ? " **Secret**: redacted in `config` output and logs." : "";
      const def = meta.default === "" ? "" : `\`${meta.default}\``;
      rows.push(`| \`${name}\`${aliases} | ${def} | ${meta.description.replace(/\|/g, "\\|")}.${secret} |`);
    }
  }
  return rows.join("\n");
}

export function envExample(): string {
  const out = [
    "# contentflow-worker settings. Every line is optional unless marked required; shown values are the defaults.",
    "# Generated from src/config/schema.ts by scripts/gen-config-docs.ts - edit the schema, then regenerate.",
    "",
  ];
  for (const [group, names] of groups()) {
    out.push(`# --- ${GROUP_TITLES[group]} ---`);
    for (const name of names) {
      const meta = settingMeta[name];
      out.push(`# ${meta.description}${meta.secret ? " (secret)" : ""}`);
      const required = name === "COSMOS_DB_ENDPOINT" || name === "STORAGE_ACCOUNT_WORKER_QUEUE_URL";
      if (required) {
        out.push(
          `# required${name === "STORAGE_ACCOUNT_WORKER_QUEUE_URL" ? " (or STORAGE_QUEUE_CONNECTION_STRING)" : ""}`,
        );
      }
      out.push(`${required ? "" : "# "}${name}=${meta.default}`);
    }
    out.push("");
  }
  return out.join("\n");
}

export function readmeWithTable(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} section`);
  return readme.slice(0, a + START.length) + "\n" + configTable() + "\n" + readme.slice(b);
}

if (import.meta.main) {
  const check = process.argv.includes("--check");
  const readme = readFileSync(README, "utf8");
  const wantReadme = readmeWithTable(readme);
  const wantEnv = envExample();
  let current = "";
  try {
    current = readFileSync(ENV_EXAMPLE, "utf8");
  } catch { /* missing */ }
  if (check) {
    const stale = [readme !== wantReadme ? "README.md" : "", current !== wantEnv ? ".env.example" : ""].filter(Boolean);
    if (stale.length) {
      console.error(`out of date: ${stale.join(", ")} (run: deno run -A scripts/gen-config-docs.ts)`);
      process.exit(1);
    }
    console.log("README.md and .env.example match the schema");
  } else {
    writeFileSync(README, wantReadme);
    writeFileSync(ENV_EXAMPLE, wantEnv);
    console.log("wrote README.md config table and .env.example");
  }
}
