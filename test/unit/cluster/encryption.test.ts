import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  derivePresharedKey,
  generateKeyPair,
  KeyFile,
  peerCheck,
  publicKeyOf,
  TUNNEL_PREFIX,
  tunnelAddress,
  verifyPeerCheck,
  wireguardDeviceName,
} from "../../../src/cluster/encryption.js";
import {
  containsAddress,
  createLogger,
  isWeaveError,
  parseAddress,
  parsePrefix,
} from "../../../src/core/index.js";
import { which } from "../../integration/helpers/netns.js";

const KEY = /^[A-Za-z0-9+/]{43}=$/;
// python3: base64(hashlib.scrypt(b"password", salt=b"weave wireguard preshared key v1", n=32768, r=8, p=1, dklen=32))
const PASSWORD_PSK = "DboJXpNuXq01N398Uylo0Xz5sb46eiVxrtd7NGlRx4Y=";

void describe("derivePresharedKey", () => {
  void it("is deterministic, 32 bytes of base64, and differs per password", async () => {
    const a = await derivePresharedKey("correct horse");
    assert.equal(await derivePresharedKey("correct horse"), a);
    assert.match(a, KEY);
    assert.equal(Buffer.from(a, "base64").length, 32);
    assert.notEqual(await derivePresharedKey("correct horse "), a);
  });

  void it("is scrypt with weave's fixed salt and parameters (a known answer)", async () => {
    assert.equal(await derivePresharedKey("password"), PASSWORD_PSK);
  });

  void it("rejects an empty password with WEAVE_CONFIG", async () => {
    await assert.rejects(derivePresharedKey(""), (err) => isWeaveError(err, "WEAVE_CONFIG"));
  });
});

void describe("peerCheck", () => {
  void it("tells the same password from another one", async () => {
    const psk = await derivePresharedKey("one");
    const other = await derivePresharedKey("two");
    const { publicKey } = generateKeyPair();
    const check = peerCheck(psk, publicKey);
    assert.match(check, KEY);
    assert.equal(verifyPeerCheck(psk, publicKey, check), true);
    assert.equal(verifyPeerCheck(other, publicKey, check), false);
    assert.equal(verifyPeerCheck(psk, generateKeyPair().publicKey, check), false);
    assert.equal(verifyPeerCheck(psk, publicKey, "short"), false);
  });

  void it("is HMAC-SHA256 over the label and the public key", async () => {
    const psk = Buffer.alloc(32, 7).toString("base64");
    const pub = "x".repeat(43) + "=";
    const { createHmac } = await import("node:crypto");
    const want = createHmac("sha256", Buffer.alloc(32, 7))
      .update(`weave peer check\0${pub}`)
      .digest("base64");
    assert.equal(peerCheck(psk, pub), want);
  });

  void it("rejects a malformed preshared key", () => {
    assert.throws(
      () => peerCheck("bad", "x"),
      (err) => isWeaveError(err, "WEAVE_BAD_REQUEST"),
    );
  });
});

void describe("key pairs", () => {
  void it("makes clamped, distinct keys whose public key matches", () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    assert.notEqual(a.privateKey, b.privateKey);
    assert.match(a.privateKey, KEY);
    assert.match(a.publicKey, KEY);
    const raw = Buffer.from(a.privateKey, "base64");
    assert.equal((raw[0] ?? 0) & 7, 0);
    assert.equal((raw[31] ?? 0) & 0xc0, 0x40);
    assert.equal(publicKeyOf(a.privateKey), a.publicKey);
  });

  void it("agrees with RFC 7748's test vector", () => {
    // RFC 7748 section 6.1: Alice's private and public key.
    const priv = Buffer.from("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "hex");
    const pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    assert.equal(Buffer.from(publicKeyOf(priv.toString("base64")), "base64").toString("hex"), pub);
  });

  void it("agrees with `wg pubkey`", { skip: which("wg") ? false : "wg is not installed" }, () => {
    for (let i = 0; i < 3; i++) {
      const pair = generateKeyPair();
      const out = execFileSync("wg", ["pubkey"], { input: pair.privateKey + "\n" })
        .toString()
        .trim();
      assert.equal(out, pair.publicKey);
      const theirs = execFileSync("wg", ["genkey"]).toString().trim();
      const theirPub = execFileSync("wg", ["pubkey"], { input: theirs + "\n" })
        .toString()
        .trim();
      assert.equal(publicKeyOf(theirs), theirPub);
    }
  });

  void it("rejects a malformed private key", () => {
    for (const bad of ["", "abc", Buffer.alloc(31).toString("base64"), "!".repeat(44)]) {
      assert.throws(
        () => publicKeyOf(bad),
        (err) => isWeaveError(err, "WEAVE_BAD_REQUEST"),
        bad,
      );
    }
  });
});

void describe("names and addresses", () => {
  void it("puts tunnel addresses in the tunnel prefix, one per peer name", () => {
    const prefix = parsePrefix(TUNNEL_PREFIX);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const addr = tunnelAddress(`peer-${i}`);
      assert.equal(tunnelAddress(`peer-${i}`), addr);
      const parsed = parseAddress(addr);
      assert.ok(containsAddress(prefix, parsed), addr);
      assert.notEqual(parsed.value & ((1n << 64n) - 1n), 0n);
      seen.add(addr);
    }
    assert.equal(seen.size, 200);
    // sha256("a") starts ca978112ca1bbdca
    assert.equal(tunnelAddress("a"), "fd77:6561:7665:0:ca97:8112:ca1b:bdca");
  });

  void it("names the device wvg + 8 hex digits of sha256(seed)", () => {
    assert.equal(wireguardDeviceName("a"), "wvgca978112");
    assert.match(wireguardDeviceName("host-1"), /^wvg[0-9a-f]{8}$/);
    assert.notEqual(wireguardDeviceName("host-1"), wireguardDeviceName("host-2"));
  });
});

void describe("KeyFile", () => {
  function scratch(): string {
    return mkdtempSync(join(tmpdir(), "weave-keyfile-"));
  }

  void it("creates a 0600 key file once and loads the same key after", () => {
    const dir = scratch();
    try {
      const now = () => new Date("2026-01-02T03:04:05.000Z");
      const first = new KeyFile(dir, { now }).load();
      assert.equal(first.createdAt, "2026-01-02T03:04:05.000Z");
      assert.equal(publicKeyOf(first.privateKey), first.publicKey);
      const file = join(dir, "wireguard.key");
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
        privateKey: first.privateKey,
        createdAt: first.createdAt,
      });
      assert.deepEqual(new KeyFile(dir).load(), first);
      assert.deepEqual(readdirSync(dir), ["wireguard.key"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("rotates to a new key that later loads return", () => {
    const dir = scratch();
    try {
      const keys = new KeyFile(dir);
      const old = keys.load();
      const rotated = keys.rotate();
      assert.notEqual(rotated.privateKey, old.privateKey);
      assert.deepEqual(new KeyFile(dir).load(), rotated);
      assert.equal(statSync(keys.path).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ["wireguard.key"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("tightens a looser mode and says so", () => {
    const dir = scratch();
    try {
      const lines: string[] = [];
      const logger = createLogger({ level: "debug", sink: (l) => lines.push(l) });
      const keys = new KeyFile(dir, { logger });
      const made = keys.load();
      chmodSync(keys.path, 0o644);
      assert.deepEqual(keys.load(), made);
      assert.equal(statSync(keys.path).mode & 0o777, 0o600);
      assert.equal(lines.length, 1);
      assert.match(lines[0] ?? "", /tightened the mode of the WireGuard key file.*"oldMode":"0644"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it("rejects a corrupt file with WEAVE_STATE naming it, and leaves it alone", () => {
    const dir = scratch();
    try {
      const file = join(dir, "wireguard.key");
      for (const text of ["not json", "{}", JSON.stringify({ privateKey: "abc", createdAt: "x" })]) {
        writeFileSync(file, text, { mode: 0o600 });
        assert.throws(
          () => new KeyFile(dir).load(),
          (err) => isWeaveError(err, "WEAVE_STATE") && err.message.includes(file),
        );
        assert.equal(readFileSync(file, "utf8"), text);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
