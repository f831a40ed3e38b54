// Which environment variables hold secrets: the worker's own (never readable by pipelines, always redacted) and
// names that merely look like secrets (readable by pipelines only when the operator lists them).
import { SECRET_SETTINGS, settingMeta } from "./schema.ts";

/**
 * Credentials the Azure SDKs (EnvironmentCredential, managed identity in App Service / Functions) read from the
 * environment. They are the worker's identity, like its secret settings.
 */
const AZURE_IDENTITY_SECRETS = [
  "AZURE_CLIENT_SECRET",
  "AZURE_CLIENT_CERTIFICATE_PASSWORD",
  "AZURE_PASSWORD",
  "IDENTITY_HEADER",
  "MSI_SECRET",
];

/** Names of the worker's own secrets: every secret setting (and its other names) and the Azure identity secrets. */
export const WORKER_SECRET_NAMES: ReadonlySet<string> = new Set([
  ...SECRET_SETTINGS.flatMap((n) => [n, ...(settingMeta[n].aliases ?? [])]),
  ...AZURE_IDENTITY_SECRETS,
]);

const SECRET_LOOKING_NAME =
  /(?:_KEY\d*|_KEY_.*|^KEY|APIKEY|_SECRET|^SECRET|SECRET_.*|PASSWORD.*|_PASSWD|_PWD|CONNECTION_?STRING.*|_CONNSTR|TOKEN|_SAS|_CREDENTIALS?)$/i;

/** Whether a variable name says it holds a secret (…_KEY, …_SECRET, …_PASSWORD, …_CONNECTION_STRING, …TOKEN, …). */
export function looksLikeSecretName(name: string): boolean {
  return WORKER_SECRET_NAMES.has(name.toUpperCase()) || SECRET_LOOKING_NAME.test(name);
}

/** Whether a value has the shape of a connection string or SAS carrying a key. */
export function looksLikeSecretValue(value: string): boolean {
  return /(?:AccountKey|SharedAccessKey|SharedAccessSignature)\s*=/i.test(value) || /[?&]sig=[^&\s]{8,}/i.test(value);
}
