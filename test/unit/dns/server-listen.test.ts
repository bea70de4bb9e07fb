/**
 * DnsServer listening on an address whose UDP or TCP port another socket holds, on real loopback
 * sockets (127.0.55.x, a port the kernel picked; no root): the call fails with WEAVE_CONFLICT
 * naming the address, and the half that did bind is let go at once.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { describe, it } from "node:test";
import { isWeaveError, silentLogger } from "../../../src/core/index.js";
import { DnsServer, Zone } from "../../../src/dns/index.js";

async function udpSocket(host: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind({ address: host, port, exclusive: true }, resolve);
  });
  return s;
}

async function tcpServer(host: string, port: number): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen({ host, port, exclusive: true }, resolve);
  });
  return s;
}

function port(s: dgram.Socket | net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

async function conflict(host: string, port: number): Promise<void> {
  const server = new DnsServer({ zone: new Zone(), logger: silentLogger, port });
  await server.start();
  try {
    await assert.rejects(server.setAddresses([host]), (err: unknown) => {
      assert.ok(isWeaveError(err, "WEAVE_CONFLICT"), String(err));
      assert.equal(err.message, `Cannot listen for DNS on "${host}:${port}": address already in use`);
      return true;
    });
    assert.deepEqual(server.addresses(), []);
  } finally {
    await server.close();
  }
}

void describe("DnsServer: an address it cannot listen on", () => {
  void it("UDP port taken: WEAVE_CONFLICT, and the TCP port stays free", async () => {
    const host = "127.0.55.1";
    const blocker = await udpSocket(host, 0);
    try {
      await conflict(host, port(blocker));
      const tcp = await tcpServer(host, port(blocker));
      await new Promise((resolve) => tcp.close(resolve));
    } finally {
      blocker.close();
    }
  });

  void it("TCP port taken: WEAVE_CONFLICT, and the UDP socket it bound is closed", async () => {
    const host = "127.0.55.2";
    const blocker = await tcpServer(host, 0);
    try {
      await conflict(host, port(blocker));
      (await udpSocket(host, port(blocker))).close();
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
