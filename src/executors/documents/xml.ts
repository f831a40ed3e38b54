// Streaming XML for OOXML parts: the part is inflated step by step (zip.ts), decoded and fed to the tokenizer of
// xml-scanner.ts, so a large sheet or document body never exists as one string or one object tree. Element and
// attribute names are handled by local name (the part after the prefix), because generators differ in prefixes
// ("x:row", "row"). Only the predefined XML entities and character references are expanded; DOCTYPE is refused.
import { XmlScanner } from "./xml-scanner.ts";
import type { Pacer } from "./limits.ts";
import type { ZipArchive } from "./zip.ts";
import { DocumentError } from "./limits.ts";

export interface XmlTag {
  /** Local name, without prefix. */
  name: string;
  attributes: Record<string, string>;
  selfClosing: boolean;
}

export interface XmlHandlers {
  open?(tag: XmlTag): void;
  close?(name: string): void;
  text?(text: string): void;
}

export function localName(qualified: string): string {
  const colon = qualified.indexOf(":");
  return colon < 0 ? qualified : qualified.slice(colon + 1);
}

/** The attribute with this exact name, else one whose local name matches ("val" finds "w:val"). */
export function attr(tag: XmlTag, name: string): string | undefined {
  const attributes = tag.attributes;
  const exact = attributes[name];
  if (exact !== undefined) return exact;
  for (const key in attributes) {
    const colon = key.indexOf(":");
    if (colon >= 0 && key.length - colon - 1 === name.length && key.endsWith(name)) return attributes[key];
  }
  return undefined;
}

/** A prefixed attribute such as r:id or r:embed (the relationship namespace), never the unprefixed one. */
export function prefixedAttr(tag: XmlTag, name: string): string | undefined {
  for (const [key, value] of Object.entries(tag.attributes)) {
    if (key.includes(":") && localName(key) === name) return value;
  }
  return undefined;
}

export async function parseXmlPart(
  zip: ZipArchive,
  part: string,
  pacer: Pacer,
  handlers: XmlHandlers,
  what: string,
): Promise<void> {
  // One tag object, refilled for every start tag: handlers read it and never keep it.
  const tag: XmlTag = { name: "", attributes: {}, selfClosing: false };
  const scanner = new XmlScanner({
    open: (name, attributes, selfClosing) => {
      if (!handlers.open) return;
      tag.name = name;
      tag.attributes = attributes;
      tag.selfClosing = selfClosing;
      handlers.open(tag);
    },
    close: (name) => handlers.close?.(name),
    text: handlers.text,
  });
  const decoder = new TextDecoder("utf-8");
  try {
    await zip.stream(part, pacer, (chunk) => scanner.write(decoder.decode(chunk, { stream: true })));
    scanner.write(decoder.decode());
    scanner.end();
  } catch (err) {
    if (err instanceof DocumentError || pacer.signal.aborted) throw err;
    throw new DocumentError(`${what}: malformed XML in part '${part}' (${(err as Error).message})`);
  }
}
