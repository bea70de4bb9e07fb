import type { Readable } from "node:stream";

/**
 * Calls `onLine` for every non-empty, trimmed line of a text stream (newline-delimited JSON from
 * Docker's /events or etcd's /v3/watch), however the chunks split the lines.
 */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line !== "") onLine(line);
    }
  });
}
