// Printable view of the effective configuration: every secret replaced, SAS signatures stripped from URLs, and
// secret-shaped fragments of other values removed by the shared redaction (src/util/redact.ts).
import type { Config, SettingName } from "./schema.ts";
import { SETTING_NAMES, settingMeta } from "./schema.ts";
import type { ConfigSource } from "./load.ts";
import { redactText } from "../util/redact.ts";

export const REDACTED = "***redacted***";

const SAS_PARAM = /([?&](?:sig|se|sv|sp|st|spr|srt|ss|skoid|sktid|sks|skv|skt|ske)=)[^&#]*/gi;

export function redactUrl(value: string): string {
  return value.replace(SAS_PARAM, (_m, key: string) => (key.toLowerCase().includes("sig") ? `${key}${REDACTED}` : _m));
}

/** Redacts `AccountKey=`, `SharedAccessSignature=`, `Secret=` parts of a connection string. */
export function redactConnectionString(value: string): string {
  return value.replace(/((?:AccountKey|SharedAccessSignature|Secret|SharedAccessKey|Key)=)[^;]*/gi, `$1${REDACTED}`);
}

export function redactValue(name: SettingName, value: unknown): unknown {
  if (settingMeta[name].secret) return value === "" || value === undefined ? "" : REDACTED;
  if (typeof value === "string" && /^https?:/i.test(value)) return redactUrl(redactText(value));
  if (typeof value === "string") return redactText(value);
  return value;
}

export interface ConfigEntry {
  value: unknown;
  source: ConfigSource;
  secret: boolean;
}

export function describeConfig(
  config: Config,
  sources: Record<SettingName, ConfigSource>,
): Record<string, ConfigEntry> {
  const out: Record<string, ConfigEntry> = {};
  for (const name of SETTING_NAMES) {
    out[name] = { value: redactValue(name, config[name]), source: sources[name], secret: !!settingMeta[name].secret };
  }
  return out;
}
