// Choice settings (a value from a list of options) that ContentFlow's executor reads without checking: its catalog
// marks none of them required, so its settings check passes any other value on as text, and the executor then takes
// the branch it takes for any unknown value. For these settings that branch is the one of a listed option, so a
// value outside the options works there as that option: we read it the same way, with a warning. Every other choice
// setting is refused when the pipeline is compiled: ContentFlow's executor raises on an unknown value when it is
// created (recursive_text_chunker.length_function, field_mapper.copy_mode, the extractors' image_output_mode, …)
// or fails later, at the service or codec the value is handed to (credential types, output formats, encodings).
import * as v from "valibot";

/** Executor type → setting → the option ContentFlow's executor uses for a value outside the options. */
export const CHOICE_FALLBACKS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // Prompt texts looked up with the default's text as the fallback (dict.get(value, default)) or an else branch.
  text_summarizer: { summary_length: "short", summary_style: "paragraph" },
  keyword_extractor: { keyword_type: "both", ranking_method: "relevance" },
  language_detector: { iso_format: "name" },
  sentiment_analyser: { scale: "3-point" },
  content_translator: { translation_style: "natural" },
  // `if result_mode == "first": … else all`, `if index_mode == "chunks": … else one document per item`.
  cosmos_db_lookup: { result_mode: "all" },
  ai_search_index_output: { index_mode: "document" },
};

/**
 * `settings` with each fallback setting the executor's schema refuses replaced by ContentFlow's option for it, and a
 * warning for each replacement.
 */
export function withChoiceFallbacks(
  type: string,
  schema: v.GenericSchema,
  settings: Record<string, unknown>,
): { settings: Record<string, unknown>; warnings: string[] } {
  const fallbacks = CHOICE_FALLBACKS[type];
  if (!fallbacks || !Object.keys(fallbacks).some((k) => settings[k] !== undefined)) return { settings, warnings: [] };
  const parsed = v.safeParse(schema, settings);
  if (parsed.success) return { settings, warnings: [] };
  const refused = new Set(parsed.issues.map((i) => i.path?.[0]?.key).filter((k) => typeof k === "string"));
  const out = { ...settings };
  const warnings: string[] = [];
  for (const [key, option] of Object.entries(fallbacks)) {
    if (!refused.has(key) || typeof settings[key] !== "string") continue;
    out[key] = option;
    warnings.push(
      `setting ${key}: '${settings[key]}' is not one of its options; ContentFlow's executor uses ${option} for it, ` +
        `and so does this one (write ${key}: ${option} to say so)`,
    );
  }
  return { settings: out, warnings };
}
