/**
 * Listening on a unix socket the way a plugin must: replace a stale socket (nobody answering),
 * refuse to steal a live one, restrict the mode to 0660 (or stricter) with a chosen group.
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { connect, type Server } from "node:net";
import { dirname } from "node:path";
import { errorMessage, WeaveError } from "../core/index.js";

/** True when something accepts connections on the unix socket `path`. */
export function socketAnswers(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

/** Removes a stale socket at `path`; throws WEAVE_CONFLICT when a live one is there. */
export async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const st = lstatSync(path);
  if (!st.isSocket()) {
    throw new WeaveError("WEAVE_CONFIG", `Cannot listen on "${path}": it exists and is not a socket`);
  }
  if (await socketAnswers(path)) {
    throw new WeaveError("WEAVE_CONFLICT", `Another process is already listening on "${path}"`);
  }
  unlinkSync(path);
}

/** Starts `server` on `path` with the given mode and group; resolves once listening. */
export async function listenUnix(server: Server, path: string, mode: number, gid: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  await clearStaleSocket(path);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  try {
    // Owner -1 keeps the creating user (root for the daemon); 0 would fail with EPERM for non-root.
    chownSync(path, -1, gid);
    chmodSync(path, mode);
  } catch (err) {
    // Do not leave a listening server (and its socket file) behind a failed start.
    server.close();
    removeSocket(path);
    throw new WeaveError(
      "WEAVE_PERMISSION",
      `Cannot give "${path}" group ${gid} and mode ${mode.toString(8)}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
}

/** Removes the socket file if it is still there; never throws. */
export function removeSocket(path: string): void {
  try {
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing more to do at shutdown.
  }
}
