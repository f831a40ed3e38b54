// pii_detector: finds personal data in data[input_field] via Azure OpenAI. The answer's JSON object goes to
// data[output_field] ("pii_detected"); with action redact/mask/label its "<action>ed_text" also goes to
// data[redacted_field] ("text_redacted"), and summary_data.pii_count is set. Prompt as ContentFlow's
// PIIDetectorExecutor. pii_types and custom_patterns may be lists or comma-separated strings (ContentFlow joined the
// characters of a string, e.g. the catalog's default, into "n, a, m, e, ...").
import * as v from "valibot";
import type { ExecutorDefinition } from "../types.ts";
import type { Content } from "../../model/content.ts";
import { boolSetting, choiceSetting, numberSetting, stringListSetting, stringSetting } from "../settings.ts";
import { chatDataFields, chatSettingEntries, createChatExecutor, parseJsonObject } from "../ai/chat-executor.ts";
import { pythonFloat } from "../ai/prompt-text.ts";

const DESCRIPTIONS: Record<string, string> = {
  name: "person names (first, last, full names)",
  email: "email addresses",
  phone: "phone numbers in any format",
  ssn: "social security numbers (XXX-XX-XXXX)",
  credit_card: "credit card numbers",
  address: "physical addresses (street, city, state, zip)",
  date_of_birth: "dates of birth",
  passport: "passport numbers",
  license: "driver's license numbers",
  ip_address: "IP addresses",
  bank_account: "bank account numbers",
};

const settings = v.object({
  ...chatSettingEntries({ output_field: "pii_detected", max_tokens: 400, temperature: 0.2 }),
  pii_types: v.optional(stringListSetting("pii_types"), ["name", "email", "phone", "ssn", "credit_card", "address"]),
  action: v.optional(choiceSetting("action", ["detect", "redact", "mask", "label"]), "detect"),
  include_positions: v.optional(boolSetting("include_positions"), true),
  confidence_threshold: v.optional(numberSetting("confidence_threshold", { min: 0, max: 1 }), 0.7),
  custom_patterns: v.optional(stringListSetting("custom_patterns")),
  redacted_field: v.optional(stringSetting("redacted_field"), "text_redacted"),
});
type Settings = v.InferOutput<typeof settings>;

export function piiInstructions(s: Settings): string {
  let text = "You are an expert PII (Personally Identifiable Information) detection system. ";
  text += `Detect the following types of PII in the text: ${s.pii_types.join(", ")}. `;
  if (s.custom_patterns?.length) text += `Also look for these custom PII patterns: ${s.custom_patterns.join(", ")}. `;
  text += `Only report PII with confidence >= ${pythonFloat(s.confidence_threshold)}. `;
  text += "\n\nPII Types to detect:\n";
  for (const type of s.pii_types) if (Object.hasOwn(DESCRIPTIONS, type)) text += `- ${type}: ${DESCRIPTIONS[type]}\n`;
  const action = s.action;
  if (action === "detect") {
    text += "\n\nReturn results as a JSON object listing all detected PII. ";
    text += s.include_positions
      ? 'Format: {"pii_found": [{"type": "pii_type", "value": "actual_value", "position": {"start": 0, "end": 10}, "confidence": 0.0-1.0}], "count": 0}. '
      : 'Format: {"pii_found": [{"type": "pii_type", "value": "actual_value", "confidence": 0.0-1.0}], "count": 0}. ';
  } else {
    text += `\n\nDetect PII and ${action} it in the text. `;
    text += "\n\nReturn results as a JSON object with two fields: ";
    text += '1. "pii_found": list of detected PII ';
    text += `2. "${action}ed_text": the text with PII ${action}ed. `;
    if (action === "redact") text += "Replace each PII item with [REDACTED-TYPE] (e.g., [REDACTED-EMAIL]). ";
    else if (action === "mask") text += "Replace each PII item with asterisks (***). ";
    else text += "Wrap each PII item with tags like <PII-TYPE>value</PII-TYPE>. ";
    text += s.include_positions
      ? 'Format: {"pii_found": [{"type": "...", "value": "...", "position": {...}, "confidence": 0.0-1.0}], '
      : 'Format: {"pii_found": [{"type": "...", "value": "...", "confidence": 0.0-1.0}], ';
    text += `"${action}ed_text": "text with PII ${action}ed", "count": 0}. `;
  }
  text += "\n\nBe thorough but conservative - only flag items you are confident are PII. ";
  text += "Avoid false positives.";
  return text;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** ContentFlow's post-processing: parsed JSON replaces the text; redacted text and pii_count are copied out. */
function applyAnswer(s: Settings, item: Content, answer: string): void {
  const parsed = parseJsonObject(answer);
  if (parsed === undefined || parsed === null) return;
  const data = item.data!;
  data[s.output_field] = parsed;
  if (!isRecord(parsed)) return;
  const redactedKey = `${s.action}ed_text`;
  if (s.action !== "detect" && Object.hasOwn(parsed, redactedKey)) data[s.redacted_field] = parsed[redactedKey];
  const summary = (item.summary_data ??= {});
  if (Object.hasOwn(parsed, "count")) summary.pii_count = parsed.count;
  else if (Array.isArray(parsed.pii_found)) summary.pii_count = parsed.pii_found.length;
}

export const piiDetector: ExecutorDefinition<typeof settings> = {
  type: "pii_detector",
  category: "transform",
  description: "Detects (and optionally redacts, masks or labels) personal data in each item's text with Azure OpenAI",
  settings,
  // Its writes depend on the action (<action>ed_text too): only what it reads is declared.
  dataFields: chatDataFields("pii_detected", { writesKnown: false }),
  create: (id, s, deps) =>
    createChatExecutor("pii_detector", id, s, deps, {
      instructions: piiInstructions(s),
      parseJson: false,
      afterAnswer: (item, answer) => applyAnswer(s, item, answer),
    }),
};
