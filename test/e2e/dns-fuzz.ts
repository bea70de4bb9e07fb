/**
 * Sends random and mutated DNS packets over UDP: `node --import tsx dns-fuzz.ts HOST PORT COUNT`.
 * Mutations of a valid query: bit flips, truncation, bogus counts, compression pointer loops.
 * Paced in small bursts so the kernel does not just drop them; prints `sent N`.
 */
import { createSocket } from "node:dgram";
import { randomBytes, randomInt } from "node:crypto";

const [host = "127.0.0.1", portText = "53", countText = "100000"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);

function query(name: string, type: number): Buffer {
  const labels = name.split(".").filter((l) => l !== "");
  const q = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
    Buffer.from([0, type >> 8, type & 0xff, 0, 1]),
  ]);
  const header = Buffer.from([randomInt(256), randomInt(256), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, q]);
}

function mutate(base: Buffer): Buffer {
  const b = Buffer.from(base);
  switch (randomInt(6)) {
    case 0:
      for (let i = 0; i < 1 + randomInt(4); i++) b[randomInt(b.length)] = randomInt(256);
      return b;
    case 1:
      return b.subarray(0, randomInt(b.length));
    case 2:
      b.writeUInt16BE(randomInt(65536), 4 + 2 * randomInt(4)); // section counts
      return b;
    case 3:
      b[12] = 0xc0; // pointer to itself
      b[13] = 12;
      return b;
    case 4:
      return Buffer.concat([b, randomBytes(randomInt(600))]);
    default:
      return randomBytes(randomInt(1, 520));
  }
}

const socket = createSocket("udp4");
const bases = [query("db.weave.local", 1), query("x.example.com", 28), query("1.0.32.10.in-addr.arpa", 12)];
let sent = 0;
function burst(): void {
  for (let i = 0; i < 200 && sent < count; i++, sent++) {
    socket.send(mutate(bases[randomInt(bases.length)] ?? Buffer.alloc(0)), port, host);
  }
  if (sent < count) setTimeout(burst, 1);
  else
    setTimeout(() => {
      socket.close();
      console.log(`sent ${sent}`);
    }, 200);
}
burst();
