/** The CLI side of the control API: JSON over HTTP on the daemon's unix socket. */
import { request } from "node:http";
import { isErrorCode, WeaveError } from "../core/index.js";

/**
 * Calls the daemon. Rejects with WEAVE_NOT_RUNNING when nothing listens on the socket,
 * WEAVE_PERMISSION when the socket is not ours to open.
 */
export function callDaemon<T>(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  timeoutMs = 15_000,
  body?: unknown,
): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = payload
      ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }
      : {};
    const req = request({ socketPath, method, path, timeout: timeoutMs, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        try {
          const body = JSON.parse(text) as T & { error?: string; code?: string };
          if ((res.statusCode ?? 500) >= 400) {
            const code = isErrorCode(body.code) ? body.code : "WEAVE_INTERNAL";
            reject(new WeaveError(code, body.error ?? text));
          } else resolve(body);
        } catch (err) {
          reject(
            new WeaveError("WEAVE_INTERNAL", `Invalid answer from the weave daemon: ${text}`, { cause: err }),
          );
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED") {
        reject(
          new WeaveError(
            "WEAVE_NOT_RUNNING",
            `weave is not running (no daemon at "${socketPath}"); start it with: weave launch`,
          ),
        );
      } else if (err.code === "EACCES" || err.code === "EPERM") {
        reject(
          new WeaveError(
            "WEAVE_PERMISSION",
            `Permission denied on "${socketPath}": run weave as root (e.g. with sudo)`,
          ),
        );
      } else {
        reject(
          new WeaveError(
            "WEAVE_INTERNAL",
            `Cannot talk to the weave daemon at "${socketPath}": ${err.message}`,
            { cause: err },
          ),
        );
      }
    });
    req.end(payload);
  });
}
