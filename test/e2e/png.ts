/**
 * Just enough PNG decoding to check a browser screenshot: size from IHDR, and the pixels of an
 * 8-bit RGB or RGBA, non-interlaced image (what Chromium writes), filters undone. Throws on
 * anything else.
 */
import { inflateSync } from "node:zlib";

export interface Png {
  width: number;
  height: number;
  /** Bytes per pixel: 3 (RGB) or 4 (RGBA). */
  channels: number;
  /** Unfiltered rows, `width * channels` bytes each. */
  pixels: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk; throws when `data` is not a PNG. */
export function pngSize(data: Buffer): { width: number; height: number } {
  if (data.length < 24 || !data.subarray(0, 8).equals(SIGNATURE)) throw new Error("Not a PNG file");
  if (data.toString("latin1", 12, 16) !== "IHDR") throw new Error("PNG without IHDR first");
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes an 8-bit RGB/RGBA non-interlaced PNG. */
export function decodePng(data: Buffer): Png {
  const { width, height } = pngSize(data);
  const depth = data[24];
  const colorType = data[25];
  const interlace = data[28];
  if (depth !== 8 || (colorType !== 2 && colorType !== 6) || interlace !== 0)
    throw new Error(`Unsupported PNG (depth ${depth}, color type ${colorType}, interlace ${interlace})`);
  const channels = colorType === 6 ? 4 : 3;
  const idat: Buffer[] = [];
  for (let off = 8; off + 8 <= data.length;) {
    const len = data.readUInt32BE(off);
    const type = data.toString("latin1", off + 4, off + 8);
    if (type === "IDAT") idat.push(data.subarray(off + 8, off + 8 + len));
    if (type === "IEND") break;
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1))
    throw new Error(`PNG data has ${raw.length} bytes, not ${height * (stride + 1)}`);
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] ?? -1;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? (pixels[out + i - channels] ?? 0) : 0;
      const b = y > 0 ? (pixels[out - stride + i] ?? 0) : 0;
      const c = y > 0 && i >= channels ? (pixels[out - stride + i - channels] ?? 0) : 0;
      const x = line[i] ?? 0;
      let v: number;
      switch (filter) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + a;
          break;
        case 2:
          v = x + b;
          break;
        case 3:
          v = x + ((a + b) >> 1);
          break;
        case 4:
          v = x + paeth(a, b, c);
          break;
        default:
          throw new Error(`Unknown PNG filter ${filter} in row ${y}`);
      }
      pixels[out + i] = v & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** The colour at (x, y) as `#rrggbb`. */
export function pixelAt(png: Png, x: number, y: number): string {
  const i = (y * png.width + x) * png.channels;
  return `#${[png.pixels[i], png.pixels[i + 1], png.pixels[i + 2]].map((v) => (v ?? 0).toString(16).padStart(2, "0")).join("")}`;
}

/** How many pixels have each colour (`#rrggbb`). */
export function colourCounts(png: Png): Map<string, number> {
  const counts = new Map<string, number>();
  for (let y = 0; y < png.height; y++)
    for (let x = 0; x < png.width; x++) {
      const c = pixelAt(png, x, y);
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
  return counts;
}
