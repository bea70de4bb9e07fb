/** Headless Chromium for the status page checks, and where their artifacts are kept. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Flags for a headless Chromium that talks to nothing but the URL it is given. */
export function chromiumArgs(profile: string): string[] {
  return [
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    "--window-size=1280,800",
  ];
}

/** Saves a file under $WEAVE_E2E_ARTIFACTS, when set. */
export function keep(name: string, data: Buffer): void {
  const dir = process.env.WEAVE_E2E_ARTIFACTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), data);
}
