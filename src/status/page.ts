/** The status page: an HTML document around the status picture, refreshed by the browser. Pure. */
import type { StatusPicture } from "./picture.js";
import { escapeXml, renderStatusSvg } from "./svg.js";

/** Seconds between reloads of the status page. */
const REFRESH_SECONDS = 5;

/**
 * The HTML of the status page: the picture inline (no script, no external resource), reloaded
 * every `refreshSeconds` by a meta refresh.
 */
export function renderStatusPage(view: StatusPicture, refreshSeconds = REFRESH_SECONDS): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${refreshSeconds}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(`weave · ${view.hostname}`)}</title>
<style>
html, body { margin: 0; background: #e2e8f0; }
svg { display: block; width: 100%; max-width: 1280px; height: auto; margin: 0 auto; }
</style>
</head>
<body>
${renderStatusSvg(view)}
</body>
</html>
`;
}
