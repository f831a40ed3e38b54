// Settings every executor accepts (ContentFlow's BaseExecutor and ParallelExecutor). The runner applies them;
// executors never see them. Defaults follow the catalog (fail_pipeline_on_error true, max_concurrent 3).
import * as v from "valibot";
import { boolSetting, intSetting, stringSetting } from "../executors/settings.ts";

export const COMMON_SETTING_NAMES = [
  "enabled",
  "condition",
  "fail_pipeline_on_error",
  "debug_mode",
  "max_concurrent",
  "timeout_secs",
  "continue_on_error",
] as const;

export function commonSettingsSchema(
  defaults: { max_concurrent?: number; timeout_secs?: number; fail_pipeline_on_error?: boolean } = {},
) {
  return v.object({
    enabled: v.optional(boolSetting("enabled"), true),
    condition: v.optional(stringSetting("condition")),
    fail_pipeline_on_error: v.optional(
      boolSetting("fail_pipeline_on_error"),
      defaults.fail_pipeline_on_error ?? true,
    ),
    debug_mode: v.optional(boolSetting("debug_mode"), false),
    max_concurrent: v.optional(intSetting("max_concurrent", { min: 1, max: 100 }), defaults.max_concurrent ?? 3),
    timeout_secs: v.optional(intSetting("timeout_secs", { min: 1, max: 86_400 }), defaults.timeout_secs ?? 300),
    continue_on_error: v.optional(boolSetting("continue_on_error"), true),
  });
}
export type CommonSettings = v.InferOutput<ReturnType<typeof commonSettingsSchema>>;

/** `enabled` read straight from raw settings (before validation), for graph decisions and input discovery. */
export function isEnabledRaw(settings: Record<string, unknown> | undefined): boolean {
  const value = settings?.enabled;
  if (value === false) return false;
  if (typeof value === "string") return !["false", "0", "no", "off"].includes(value.trim().toLowerCase());
  return true;
}

/** Common settings go to `common`, the others to `own`; names in `alsoOwn` go to both. */
export function splitSettings(
  settings: Record<string, unknown>,
  alsoOwn: readonly string[] = [],
): { common: Record<string, unknown>; own: Record<string, unknown> } {
  const common: Record<string, unknown> = {};
  const own: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    const isCommon = (COMMON_SETTING_NAMES as readonly string[]).includes(key);
    if (isCommon) common[key] = value;
    if (!isCommon || alsoOwn.includes(key)) own[key] = value;
  }
  return { common, own };
}
