/**
 * Drawing helpers shared by the status picture's parts (svg.ts, cluster-svg.ts): escaping, text
 * width estimates (there is no browser to measure text), ellipsis and <text> elements. Pure.
 */

export const FONT = "'Liberation Sans', Arial, 'DejaVu Sans', sans-serif";
export const MONO = "'DejaVu Sans Mono', 'Liberation Mono', monospace";
export const INK = "#0f172a";
export const MUTED = "#475569";

/** Escapes text for SVG/XML content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function charWidth(size: number, bold: boolean, mono: boolean): number {
  return size * (mono ? 0.61 : bold ? 0.64 : 0.58);
}

/** A generous estimate of the width of `text` in pixels. */
export function textWidth(text: string, size: number, bold = false, mono = false): number {
  return [...text].length * charWidth(size, bold, mono);
}

/** `text` cut with an ellipsis to fit `width` pixels (by estimate). */
export function fit(text: string, width: number, size: number, bold = false, mono = false): string {
  const chars = [...text];
  const max = Math.max(1, Math.floor(width / charWidth(size, bold, mono)));
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

export interface TextOptions {
  size: number;
  fill?: string;
  bold?: boolean;
  mono?: boolean;
  anchor?: "start" | "middle" | "end";
  italic?: boolean;
  opacity?: number;
  cls?: string;
}

/** A <text> element at (`x`, `y`) with `content` escaped. */
export function text(x: number, y: number, content: string, o: TextOptions): string {
  const attrs = [
    `x="${x}"`,
    `y="${y}"`,
    `font-size="${o.size}"`,
    `fill="${o.fill ?? INK}"`,
    o.bold ? `font-weight="bold"` : "",
    o.mono ? `font-family="${MONO}"` : "",
    o.anchor && o.anchor !== "start" ? `text-anchor="${o.anchor}"` : "",
    o.italic ? `font-style="italic"` : "",
    o.opacity !== undefined ? `fill-opacity="${o.opacity}"` : "",
    o.cls ? `class="${o.cls}"` : "",
  ].filter((a) => a !== "");
  return `<text ${attrs.join(" ")}>${escapeXml(content)}</text>`;
}
