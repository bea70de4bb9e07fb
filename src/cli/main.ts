#!/usr/bin/env node
/**
 * The `weave` command. Maps errors to exit codes in one place:
 * 0 ok, 1 failure, 2 usage error, 3 not running, 4 permission denied.
 */
import { flagsHelp } from "../config/index.js";
import { errorMessage, isWeaveError } from "../core/index.js";
import { controlSocket, ps, status, stop, version } from "./commands.js";
import { rmpeer, rotateKey } from "./cluster.js";
import { dnsAdd, dnsArgs, dnsLookup, dnsRemove } from "./dns.js";
import { exitCodeFor } from "./exit-codes.js";
import { launch } from "./launch.js";

export const USAGE = `Usage: weave COMMAND [OPTIONS]

Commands:
  launch [FLAGS]      Start the weave daemon (Docker network + IPAM plugin "weave") in the background
  launch --foreground Run the daemon in the foreground (systemd, containers)
  stop                Stop the daemon (running containers keep their network)
  status [--json]     Version, sockets, state directory, Docker reachability, networks, weaveDNS
  status dns [--json] weaveDNS: domain, addresses, every name and address it answers with
  status peers [--json]
                      Multi-host: this host, the cluster store, every peer's address, state, last seen
  rmpeer NAME         Multi-host: release the address blocks of host NAME, gone for good
  rotate-key          Encrypted cluster: new WireGuard key pair for this host, published to the peers
  ps                  Containers on weave networks: container, network, MAC, IP
  dns-add [IP...] [CONTAINER] [-h FQDN] [--net NETWORK]
                      Add DNS records (tied to CONTAINER when given; its addresses when no IP).
                      Containers of every network see them, or of NETWORK only with --net
  dns-remove [IP...] [CONTAINER] [-h FQDN] [--net NETWORK]
                      Remove records added with dns-add (all of that name when no IP)
  dns-lookup NAME     The addresses weaveDNS answers for NAME
  dns-args [--json]   The docker run flags (--json: daemon.json keys) that make containers use weaveDNS
  version             Print weave's version
  help                This text

Every command accepts --run-dir (WEAVE_RUN_DIR) to find the daemon.

Launch flags:
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command = "help", ...args] = argv;
  // -h is dns-add's and dns-remove's hostname option; elsewhere it asks for help.
  const takesH = command === "dns-add" || command === "dns-remove";
  if (args.includes("--help") || (!takesH && args.includes("-h"))) {
    process.stdout.write(USAGE + flagsHelp() + "\n");
    return 0;
  }
  switch (command) {
    case "launch":
      return launch(args);
    case "stop":
      return stop(args);
    case "status":
      return status(args);
    case "ps":
      return ps(args);
    case "dns-add":
    case "dns-remove":
    case "dns-lookup":
    case "dns-args": {
      const { socket, rest } = controlSocket(args);
      if (command === "dns-add") return dnsAdd(socket, rest);
      if (command === "dns-remove") return dnsRemove(socket, rest);
      if (command === "dns-lookup") return dnsLookup(socket, rest);
      return dnsArgs(socket, rest);
    }
    case "rmpeer": {
      const { socket, rest } = controlSocket(args);
      return rmpeer(socket, rest);
    }
    case "rotate-key": {
      const { socket, rest } = controlSocket(args);
      return rotateKey(socket, rest);
    }
    case "version":
    case "--version":
      return version();
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE + flagsHelp() + "\n");
      return 0;
    default:
      process.stderr.write(`weave: unknown command "${command}"\n\n${USAGE}${flagsHelp()}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`weave: ${errorMessage(err)}\n`);
    process.exitCode = isWeaveError(err) ? exitCodeFor(err.code) : 1;
  },
);
