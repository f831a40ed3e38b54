// Storage account names from pipeline settings and content items. A name becomes the host of the blob endpoint
// (https://<name>.blob.core.windows.net), and the worker sends its storage token (managed identity) to that host, so
// anything but a real account name is refused: `attacker.example:443/x#` or `127.0.0.1:8443/x?` would otherwise
// turn the endpoint into another host. Azure's rule: 3 to 24 lower-case letters and digits. A full endpoint
// (Azurite, another cloud) comes only from the operator's BLOB_STORAGE_CONNECTION_STRING, never from a pipeline.
// The one home of the rule: settings (storageAccountSetting, checked when a pipeline compiles), items read at run
// time (item-blob.ts) and the endpoint builder (blob-clients.ts) all use it.
import * as v from "valibot";
import { stringSetting } from "./settings.ts";

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/** Whether `name` is a storage account name (3 to 24 lower-case letters and digits). */
export function isStorageAccountName(name: string): boolean {
  return ACCOUNT_NAME.test(name);
}

const RULE = "3 to 24 lower-case letters and digits: an account is named, never a host";

/** The message for a refused value: "'<value>' is not a storage account name (…)". */
export function notAnAccountName(value: string): string {
  return `'${shown(value)}' is not a storage account name (${RULE})`;
}

/**
 * The blob endpoint of an account. Throws for anything that is not an account name, so that no caller can build a
 * URL to another host from an unchecked value (the settings are checked earlier; this is the last line).
 */
export function blobEndpoint(account: string): string {
  if (!isStorageAccountName(account)) {
    throw new Error(notAnAccountName(account));
  }
  return `https://${account}.blob.core.windows.net`;
}

/** A value as messages show it: cut short, control characters dropped. */
function shown(value: string): string {
  // deno-lint-ignore no-control-regex
  const clean = value.replace(/[\x00-\x1f\x7f]/g, "?");
  return clean.length > 64 ? `${clean.slice(0, 64)}…` : clean;
}

/**
 * An executor setting naming a storage account: trimmed, then refused unless it is an account name. Checked when the
 * pipeline compiles; the message reads "executor 'x' (type): invalid settings: <name>: '<value>' is not a storage
 * account name (…)". "" is let through for settings where it means "not set".
 */
export function storageAccountSetting(name: string) {
  return v.pipe(
    stringSetting(name),
    v.trim(),
    v.check((s) => s === "" || isStorageAccountName(s), (issue) => notAnAccountName(String(issue.input))),
  );
}
