/**
 * The e2e test image: busybox-static in an otherwise empty image, with every applet linked in /bin
 * (what `FROM scratch` + `COPY busybox` + `RUN busybox --install -s /bin` gives).
 *
 * Nothing can be pulled on the test machines and building needs a running dockerd, so the
 * `docker save` archive is assembled directly: one layer tarball made with GNU tar, an image
 * config and a manifest.json, which `docker load` (20.10 and later) accepts. The archive is cached
 * under `.tmp/e2e-cache/` in the repository, keyed by the busybox binary's hash.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { HarnessError, findExecutable, runChecked } from "./exec.js";

/** Tag of the test image inside every simulated host's dockerd. */
export const TEST_IMAGE = "weave-test-busybox:latest";

/** Repository root (the directory holding package.json). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Where the image archive is cached. */
export const CACHE_DIR = join(REPO_ROOT, ".tmp", "e2e-cache");

let building: Promise<string> | undefined;

/**
 * Returns the path of a `docker save` archive holding {@link TEST_IMAGE}, building it on first use
 * (about 1 s) and reusing the cached file afterwards. Safe to call concurrently, also from several
 * processes (the archive is written to a temporary name and renamed into place).
 * Throws `WEAVE_E2E_UNAVAILABLE` when busybox is missing or not statically linked.
 */
export function buildTestImage(): Promise<string> {
  building ??= build().catch((e: unknown) => {
    building = undefined;
    throw e;
  });
  return building;
}

async function build(): Promise<string> {
  const busybox = findExecutable("busybox");
  if (busybox === undefined) {
    throw new HarnessError("WEAVE_E2E_UNAVAILABLE", "Cannot build the test image: busybox is not installed");
  }
  const binary = await readFile(busybox);
  if (hasInterpreter(binary)) {
    throw new HarnessError(
      "WEAVE_E2E_UNAVAILABLE",
      `Cannot build the test image: "${busybox}" is dynamically linked (install busybox-static)`,
    );
  }
  const key = sha256(binary).slice(0, 16);
  const archive = join(CACHE_DIR, `weave-test-busybox-${key}.tar`);
  if (existsSync(archive)) return archive;

  await mkdir(CACHE_DIR, { recursive: true });
  const work = await mkdtemp(join(CACHE_DIR, "build-"));
  try {
    const rootfs = join(work, "rootfs");
    const entries = await makeRootfs(rootfs, busybox);
    const layer = join(work, "layer.tar");
    await runChecked(["tar", ...TAR_FLAGS, "-C", rootfs, "-cf", layer, ...entries]);
    const diffId = sha256(await readFile(layer));

    const image = join(work, "image");
    await mkdir(join(image, diffId), { recursive: true });
    await rename(layer, join(image, diffId, "layer.tar"));
    const created = "1970-01-01T00:00:00Z";
    const config = JSON.stringify({
      architecture: process.arch === "x64" ? "amd64" : process.arch,
      os: "linux",
      created,
      config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] },
      history: [{ created, created_by: "weave e2e harness: busybox-static" }],
    });
    const configId = sha256(Buffer.from(config));
    await writeFile(join(image, `${configId}.json`), config);
    const [repo, tag] = TEST_IMAGE.split(":") as [string, string];
    const manifest = [
      { Config: `${configId}.json`, RepoTags: [TEST_IMAGE], Layers: [`${diffId}/layer.tar`] },
    ];
    await writeFile(join(image, "manifest.json"), JSON.stringify(manifest));
    await writeFile(join(image, "repositories"), JSON.stringify({ [repo]: { [tag]: diffId } }));

    const tmp = `${archive}.${process.pid}.tmp`;
    await runChecked([
      "tar",
      ...TAR_FLAGS,
      "-C",
      image,
      "-cf",
      tmp,
      "manifest.json",
      "repositories",
      `${configId}.json`,
      diffId,
    ]);
    await rename(tmp, archive);
    return archive;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const TAR_FLAGS = ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"];

/** Lays out the image's root file system in `dir`; returns its top-level entries. */
async function makeRootfs(dir: string, busybox: string): Promise<string[]> {
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });
  await copyFile(busybox, join(bin, "busybox"));
  await chmod(join(bin, "busybox"), 0o755);
  const list = await runChecked([busybox, "--list"]);
  for (const applet of list.stdout.split("\n").map((s) => s.trim())) {
    if (applet === "" || applet === "busybox" || applet.includes("/")) continue;
    await symlink("/bin/busybox", join(bin, applet));
  }
  for (const d of ["etc", "root", "var", "proc", "sys", "dev"])
    await mkdir(join(dir, d), { recursive: true });
  await mkdir(join(dir, "tmp"));
  await chmod(join(dir, "tmp"), 0o1777);
  await writeFile(
    join(dir, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await writeFile(join(dir, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
  return ["bin", "dev", "etc", "proc", "root", "sys", "tmp", "var"];
}

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** True when `elf` is a 64-bit little-endian ELF with a PT_INTERP header (i.e. dynamically linked). */
function hasInterpreter(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 <= elf.length && elf.readUInt32LE(at) === 3) return true;
  }
  return false;
}
