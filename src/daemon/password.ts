/**
 * The cluster password, read once at start: from --password-file (trailing newlines dropped) or
 * WEAVE_PASSWORD. Only the preshared key it yields is kept; the password is neither logged nor
 * written anywhere.
 */
import { readFileSync, statSync } from "node:fs";
import type { Logger } from "../core/index.js";
import { errorMessage, WeaveError } from "../core/index.js";
import type { Config } from "../config/index.js";
import { derivePresharedKey, wireguardDeviceName } from "../cluster/index.js";

/** Fewer characters than this is refused: the key is only as strong as the password. */
export const MIN_PASSWORD_LENGTH = 8;

export function readPassword(
  config: Pick<Config, "passwordFile" | "password">,
  logger: Logger,
): string | undefined {
  if (config.password !== undefined) return checked(config.password, "WEAVE_PASSWORD");
  const file = config.passwordFile;
  if (file === "") return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new WeaveError("WEAVE_CONFIG", `Cannot read --password-file ${file}: ${errorMessage(err)}`);
  }
  try {
    if ((statSync(file).mode & 0o077) !== 0) {
      logger.warning("the password file can be read by other users: chmod 600 it", { file });
    }
  } catch {
    // Read above; a stat failing now changes nothing.
  }
  return checked(text.replace(/[\r\n]+$/, ""), `--password-file ${file}`);
}

function checked(password: string, where: string): string {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new WeaveError(
      "WEAVE_CONFIG",
      `The password in ${where} is too short: use at least ${MIN_PASSWORD_LENGTH} characters (a long random one is best)`,
    );
  }
  return password;
}

/** The preshared key of the cluster password, or undefined without one. */
export async function presharedKeyOf(config: Config, logger: Logger): Promise<string | undefined> {
  const password = readPassword(config, logger);
  return password === undefined ? undefined : derivePresharedKey(password);
}

/** This host's WireGuard device name: unique on the machine (several weave hosts may share one kernel). */
export function deviceName(config: Pick<Config, "name" | "stateDir">): string {
  return wireguardDeviceName(`${config.name}\0${config.stateDir}`);
}
