// Service endpoints from pipeline settings: an http(s) URL without credentials, query or fragment, kept without its
// trailing slash. The ContentFlow catalog's placeholders ("https://<your-resource>…") are refused with a hint.
import * as v from "valibot";
import { stringSetting } from "../settings.ts";

export function endpointSetting(name: string, envHint: string) {
  const message = `${name} must be the service's https URL, e.g. "\${${envHint}}"`;
  return v.pipe(
    stringSetting(name),
    v.trim(),
    v.check((u) => !u.includes("<"), `${name} still holds the catalog's placeholder; ${message}`),
    v.check((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), message),
    v.check((u) => {
      if (!URL.canParse(u)) return true;
      const url = new URL(u);
      return !url.username && !url.password && !url.search && !url.hash;
    }, `${name} must not carry credentials, a query or a fragment`),
    v.transform((u) => u.replace(/\/+$/, "")),
  );
}
