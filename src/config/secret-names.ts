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

/**
 * More names that hold secrets without saying KEY/SECRET/PASSWORD/TOKEN: DB_PASS, *_PASSPHRASE, GITHUB_PAT,
 * APPINSIGHTS_INSTRUMENTATIONKEY, STORAGE_ACCESSKEY, DATABASE_URL / REDIS_URL / MONGODB_URI (URLs that usually carry
 * a password), *_DSN, *_SIGNATURE, *_SAS_URL, *_WEBHOOK(_URL), *_COOKIE, *_AUTH.
 */
const MORE_SECRET_NAMES =
  /(?:(?:^|_)PASS\d*|PASSPHRASE.*|(?:^|_)PAT|(?:INSTRUMENTATION|ACCESS|ACCOUNT|PRIVATE|MASTER|SHARED|SIGNING|ENCRYPTION|SUBSCRIPTION|AUTH|CLIENT)_?KEY\d*|SIGNATURE|(?:^|_)(?:DATABASE|DB|MONGO(?:DB)?|REDIS|POSTGRES(?:QL)?|PG|MYSQL|MARIADB|AMQP|RABBITMQ|BROKER|CACHE)_UR[LI]|(?:^|_)DSN|_SAS_UR[LI]|WEBHOOK(?:_UR[LI])?|(?:^|_)COOKIE|(?:^|_)AUTH)$/i;

/**
 * Whether a variable name says it holds a secret (…_KEY, …_SECRET, …_PASSWORD, …_PASS, …_PASSPHRASE,
 * …_CONNECTION_STRING, …TOKEN, DATABASE_URL, …INSTRUMENTATIONKEY, …).
 */
export function looksLikeSecretName(name: string): boolean {
  return WORKER_SECRET_NAMES.has(name.toUpperCase()) || SECRET_LOOKING_NAME.test(name) || MORE_SECRET_NAMES.test(name);
}

/** Value shapes that carry a credential, each with what it is called in messages (never the value itself). */
const CREDENTIAL_VALUES: ReadonlyArray<readonly [RegExp, string]> = [
  [/(?:AccountKey|SharedAccessKey|InstrumentationKey)\s*=/i, "a connection string with a key"],
  [/(?:^|;)\s*(?:Password|Pwd)\s*=/i, "a connection string with a password"],
  [/SharedAccessSignature/i, "a shared access signature"],
  [/(?:^|[?&])sig=[^&\s]{8,}/i, "a shared access signature"],
  // scheme://user[:password]@host — the user part alone is often a token (https://<token>@github.com).
  [/[a-z][a-z0-9+.-]*:\/\/[^\s/?#@]+@/i, "a URL with a user name or password"],
];

/** What kind of credential a value carries ("a URL with a user name or password", …), or undefined. */
export function credentialInValue(value: string): string | undefined {
  return CREDENTIAL_VALUES.find(([pattern]) => pattern.test(value))?.[1];
}

/** Whether a value carries a credential: a connection string or SAS with a key, a URL with user info, … */
export function looksLikeSecretValue(value: string): boolean {
  return credentialInValue(value) !== undefined;
}
