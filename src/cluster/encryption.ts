/**
 * The cluster side of encryption: what every host derives the same way from the cluster password
 * (the WireGuard preshared key, a check value that tells "same password" from "another password"
 * without publishing either), this host's WireGuard key pair and the file that keeps it, and the
 * names weave gives the WireGuard device and the tunnel addresses. Pure except for scrypt (async,
 * on libuv's thread pool) and KeyFile (small synchronous file I/O).
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from "node:crypto";
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { formatAddress, WeaveError } from "../core/index.js";
import type { Logger } from "../core/index.js";
import { clampPrivateKey, WIREGUARD_PREFIX } from "../dataplane/index.js";

/** The salt of the preshared key's scrypt: fixed, so every host derives the same key. */
const PSK_SALT = "weave wireguard preshared key v1";
/** scrypt cost: N=2^15, r=8, p=1 takes 128*N*r = 32 MiB and 0.1-0.2 s. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const PEER_CHECK_LABEL = "weave peer check\0";

/** The IPv6 prefix of the tunnel addresses ("fd" + "weave" in ASCII). */
export const TUNNEL_PREFIX = "fd77:6561:7665::/64";
const TUNNEL_BASE = 0xfd77_6561_7665_0000n << 64n;

/** A WireGuard key pair: base64 of the raw 32-byte Curve25519 keys, as `wg` prints them. */
export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/**
 * The WireGuard preshared key of a cluster password: scrypt(password, fixed salt, N=2^15, r=8, p=1),
 * 32 bytes, base64. The same on every host. Runs on the thread pool (0.1-0.2 s, 32 MiB).
 * Rejects with WEAVE_CONFIG for an empty password.
 */
export async function derivePresharedKey(password: string): Promise<string> {
  if (password === "") throw new WeaveError("WEAVE_CONFIG", "The cluster password is empty");
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, PSK_SALT, 32, SCRYPT, (err, derived) => (err ? reject(err) : resolve(derived))),
  );
  return key.toString("base64");
}

/** The 32 raw bytes of a base64 WireGuard key; WEAVE_BAD_REQUEST naming `what` otherwise. */
function keyBytes(key: string, what: string): Buffer {
  const raw = Buffer.from(key, "base64");
  if (raw.length !== 32 || raw.toString("base64") !== key) {
    throw new WeaveError("WEAVE_BAD_REQUEST", `Invalid ${what}: expected 32 bytes in base64 (44 characters)`);
  }
  return raw;
}

/**
 * The value a host publishes next to its public key so that others can tell whether it has the same
 * password: HMAC-SHA256 keyed by the preshared key's bytes over "weave peer check\0" + publicKey,
 * base64. Reveals nothing about the password or the key.
 */
export function peerCheck(presharedKey: string, publicKey: string): string {
  return createHmac("sha256", keyBytes(presharedKey, "preshared key"))
    .update(PEER_CHECK_LABEL + publicKey)
    .digest("base64");
}

/** True when `check` is peerCheck(presharedKey, publicKey) (compared in constant time). */
export function verifyPeerCheck(presharedKey: string, publicKey: string, check: string): boolean {
  const want = Buffer.from(peerCheck(presharedKey, publicKey), "base64");
  const got = Buffer.from(check, "base64");
  return got.length === want.length && timingSafeEqual(got, want);
}

// DER prefixes of an X25519 PKCS#8 private key and SPKI public key; the raw key follows.
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI_X25519_LENGTH = 44;

/** The public key (base64) of a base64 WireGuard private key. WEAVE_BAD_REQUEST when malformed. */
export function publicKeyOf(privateKey: string): string {
  const raw = keyBytes(privateKey, "WireGuard private key");
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(key).export({ format: "der", type: "spki" });
  return spki.subarray(SPKI_X25519_LENGTH - 32).toString("base64");
}

/** A new WireGuard key pair (random, clamped as `wg genkey` does). */
export function generateKeyPair(): KeyPair {
  const privateKey = clampPrivateKey(randomBytes(32).toString("base64"));
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/**
 * The tunnel address of peer `peerName` (no prefix length): TUNNEL_PREFIX with the first 64 bits of
 * sha256(peerName) as interface ID (never all zero). The device carries it as `${address}/64`.
 */
export function tunnelAddress(peerName: string): string {
  let id = createHash("sha256").update(peerName).digest().readBigUInt64BE(0);
  if (id === 0n) id = 1n;
  return formatAddress({ family: 6, value: TUNNEL_BASE | id });
}

/** The name of weave's WireGuard device for `seed`: "wvg" + 8 hex digits of sha256(seed). */
export function wireguardDeviceName(seed: string): string {
  return WIREGUARD_PREFIX + createHash("sha256").update(seed).digest("hex").slice(0, 8);
}

/** What the key file holds. */
export interface StoredKey extends KeyPair {
  /** When the key was made (ISO 8601). */
  createdAt: string;
}

const KEY_FILE_MODE = 0o600;

/**
 * This host's WireGuard private key in `STATE_DIR/wireguard.key` (JSON `{privateKey, createdAt}`,
 * mode 0600). Writes go to a temporary file that is fsynced and renamed over the key file, so a
 * crash leaves the old key or the new one. Synchronous (small files); throws WEAVE_STATE when the
 * file cannot be read, parsed or written.
 */
export class KeyFile {
  readonly path: string;
  private readonly now: () => Date;
  private readonly logger: Logger | undefined;

  constructor(stateDir: string, options: { now?: () => Date; logger?: Logger } = {}) {
    this.path = join(stateDir, "wireguard.key");
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger;
  }

  /** The stored key, or a new one written first when there is no file. Tightens a looser mode. */
  load(): StoredKey {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return this.rotate();
      throw this.error("read", err);
    }
    this.tighten();
    return this.parse(text);
  }

  /** Makes a new key pair, stores it (replacing the old one) and returns it. */
  rotate(): StoredKey {
    const pair = generateKeyPair();
    const createdAt = this.now().toISOString();
    const tmp = join(dirname(this.path), `.${basename(this.path)}.${process.pid}.tmp`);
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const fd = openSync(tmp, "w", KEY_FILE_MODE);
      try {
        fchmodSync(fd, KEY_FILE_MODE); // in case a stale temporary file had another mode
        writeSync(fd, JSON.stringify({ privateKey: pair.privateKey, createdAt }) + "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      const dir = openSync(dirname(this.path), "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (err) {
      throw this.error("write", err);
    }
    return { ...pair, createdAt };
  }

  private parse(text: string): StoredKey {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw this.error("parse", err);
    }
    const { privateKey, createdAt } = (typeof value === "object" && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    if (typeof privateKey !== "string" || typeof createdAt !== "string") {
      throw this.error("parse", new Error("expected {privateKey, createdAt}"));
    }
    try {
      return { privateKey, publicKey: publicKeyOf(privateKey), createdAt };
    } catch (err) {
      throw this.error("parse", err);
    }
  }

  private tighten(): void {
    try {
      const mode = statSync(this.path).mode & 0o777;
      if ((mode & 0o077) === 0) return;
      chmodSync(this.path, KEY_FILE_MODE);
      this.logger?.warning("tightened the mode of the WireGuard key file", {
        path: this.path,
        oldMode: `0${mode.toString(8)}`,
        newMode: "0600",
      });
    } catch (err) {
      throw this.error("secure", err);
    }
  }

  private error(verb: string, err: unknown): WeaveError {
    const why = err instanceof Error ? err.message : String(err);
    const hint = verb === "parse" ? " (remove it to make a new key)" : "";
    return new WeaveError(
      "WEAVE_STATE",
      `Cannot ${verb} the WireGuard key file "${this.path}"${hint}: ${why}`,
      {
        cause: err,
      },
    );
  }
}
