import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isWeaveError } from "../../../src/core/index.js";
import { controlSocketPath, FLAGS, flagsHelp, parseConfig } from "../../../src/config/index.js";
import { configError } from "../../helpers/config-errors.js";

void describe("parseConfig", () => {
  void it("has documented defaults", () => {
    const defaults = parseConfig([], {});
    assert.deepEqual(defaults, {
      socket: "/run/docker/plugins/weave.sock",
      driverName: "weave",
      socketGroup: "root",
      logLevel: "info",
      nameserver: undefined,
      ipallocRange: "10.32.0.0/12",
      stateDir: "/var/lib/weave",
      runDir: "/run/weave",
      dockerSocket: "/var/run/docker.sock",
      mtu: undefined,
      defaultNetwork: "weave",
      logFile: "/var/log/weave.log",
      foreground: false,
      noDns: false,
      dnsDomain: "weave.local",
      dnsTtl: 1,
      dnsUpstream: [],
      dnsPort: 53,
      dnsWorkers: 1,
      dnsResolvConf: "/etc/resolv.conf",
      statusAddr: "127.0.0.1:6782",
      store: "",
      storeCa: "",
      storeCert: "",
      storeKey: "",
      advertiseAddr: "",
      name: defaults.name,
      vxlanPort: 4789,
      transport: "auto",
      passwordFile: "",
      password: undefined,
      wireguardPort: 51820,
    });
    assert.match(defaults.name, /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "the hostname, as a valid peer name");
  });

  void it("reads every setting from its WEAVE_* environment twin", () => {
    const c = parseConfig([], {
      WEAVE_SOCKET: "/tmp/w.sock",
      WEAVE_DRIVER_NAME: "weave:latest",
      WEAVE_SOCKET_GROUP: "docker",
      WEAVE_LOG_LEVEL: "debug",
      WEAVE_NAMESERVER: "10.32.0.53",
      WEAVE_IPALLOC_RANGE: "10.64.0.0/16",
      WEAVE_STATE_DIR: "/tmp/state",
      WEAVE_RUN_DIR: "/tmp/run",
      WEAVE_DOCKER_SOCKET: "/tmp/docker.sock",
      WEAVE_MTU: "1400",
      WEAVE_DEFAULT_NETWORK: "",
      WEAVE_LOG_FILE: "/tmp/weave.log",
      WEAVE_FOREGROUND: "1",
      WEAVE_NO_DNS: "true",
      WEAVE_DNS_DOMAIN: "example.internal",
      WEAVE_DNS_TTL: "30",
      WEAVE_DNS_UPSTREAM: "192.0.2.53, [fd00::53]:5353",
      WEAVE_DNS_PORT: "5353",
      WEAVE_DNS_WORKERS: "0",
      WEAVE_DNS_RESOLV_CONF: "/tmp/resolv.conf",
      WEAVE_STATUS_ADDR: "[::1]:9100",
      WEAVE_STORE: "etcd://10.0.0.1:2379,10.0.0.2",
      WEAVE_STORE_CA: "/tmp/ca.pem",
      WEAVE_STORE_CERT: "/tmp/cert.pem",
      WEAVE_STORE_KEY: "/tmp/key.pem",
      WEAVE_ADVERTISE_ADDR: "10.0.0.9",
      WEAVE_NAME: "host-9",
      WEAVE_VXLAN_PORT: "8472",
      WEAVE_TRANSPORT: "routed",
      WEAVE_PASSWORD_FILE: "/tmp/password",
      WEAVE_WIREGUARD_PORT: "51999",
      UNRELATED: "x",
    });
    assert.deepEqual(c, {
      socket: "/tmp/w.sock",
      driverName: "weave:latest",
      socketGroup: "docker",
      logLevel: "debug",
      nameserver: "10.32.0.53",
      ipallocRange: "10.64.0.0/16",
      stateDir: "/tmp/state",
      runDir: "/tmp/run",
      dockerSocket: "/tmp/docker.sock",
      mtu: 1400,
      defaultNetwork: "",
      logFile: "/tmp/weave.log",
      foreground: true,
      noDns: true,
      dnsDomain: "example.internal",
      dnsTtl: 30,
      dnsUpstream: ["192.0.2.53", "[fd00::53]:5353"],
      dnsPort: 5353,
      dnsWorkers: 0,
      dnsResolvConf: "/tmp/resolv.conf",
      statusAddr: "[::1]:9100",
      store: "etcd://10.0.0.1:2379,10.0.0.2",
      storeCa: "/tmp/ca.pem",
      storeCert: "/tmp/cert.pem",
      storeKey: "/tmp/key.pem",
      advertiseAddr: "10.0.0.9",
      name: "host-9",
      vxlanPort: 8472,
      transport: "routed",
      passwordFile: "/tmp/password",
      password: undefined,
      wireguardPort: 51999,
    });
  });

  void it("--transport takes auto, vxlan or routed", () => {
    assert.equal(parseConfig(["--transport", "vxlan"], {}).transport, "vxlan");
    assert.equal(parseConfig(["--transport=routed"], {}).transport, "routed");
    configError(
      () => parseConfig(["--transport", "ipsec"], {}),
      "--transport (WEAVE_TRANSPORT): expected auto, vxlan or routed",
    );
    configError(() => parseConfig(["--wireguard-port", "0"], {}), "--wireguard-port");
  });

  void it("a password comes from --password-file or WEAVE_PASSWORD (not both) and needs --store", () => {
    const store = ["--store", "etcd://10.0.0.1:2379"];
    assert.equal(parseConfig(store, { WEAVE_PASSWORD: "correct horse" }).password, "correct horse");
    assert.equal(
      parseConfig([...store, "--password-file", "/etc/weave/pw"], {}).passwordFile,
      "/etc/weave/pw",
    );
    assert.equal(parseConfig(store, { WEAVE_PASSWORD: "" }).password, undefined, "empty: no password");
    configError(
      () => parseConfig([...store, "--password-file", "/etc/weave/pw"], { WEAVE_PASSWORD: "x" }),
      "not both",
    );
    configError(() => parseConfig(["--password-file", "/etc/weave/pw"], {}), "needs --store");
    configError(() => parseConfig([], { WEAVE_PASSWORD: "correct horse" }), "needs --store");
  });

  void it("rejects a bad store URL, advertise address, peer name and VXLAN port, naming the flag", () => {
    for (const [flag, value, why] of [
      ["--store", "http://10.0.0.1:2379", /--store \(WEAVE_STORE\).*etcd:\/\//],
      ["--store", "etcd://", /--store/],
      ["--advertise-addr", "fd00::1", /--advertise-addr.*IPv4/],
      ["--advertise-addr", "host1", /--advertise-addr/],
      ["--name", "-bad", /--name/],
      ["--name", "a b", /--name/],
      ["--vxlan-port", "0", /--vxlan-port/],
      ["--vxlan-port", "65536", /--vxlan-port/],
    ] as const) {
      assert.throws(
        () => parseConfig([flag, value], {}),
        (err: unknown) => isWeaveError(err, "WEAVE_CONFIG") && why.test(err.message),
        `${flag} ${value}`,
      );
    }
  });

  void it("a flag overrides its environment twin", () => {
    const env = { WEAVE_LOG_LEVEL: "debug", WEAVE_MTU: "1400", WEAVE_FOREGROUND: "false" };
    const c = parseConfig(["--log-level", "error", "--mtu=9000", "--foreground"], env);
    assert.equal(c.logLevel, "error");
    assert.equal(c.mtu, 9000);
    assert.equal(c.foreground, true);
  });

  void it("accepts --flag=value and --flag value, and the last occurrence wins", () => {
    assert.equal(parseConfig(["--state-dir=/a"], {}).stateDir, "/a");
    assert.equal(parseConfig(["--state-dir", "/b"], {}).stateDir, "/b");
    assert.equal(parseConfig(["--state-dir", "/a", "--state-dir=/c"], {}).stateDir, "/c");
    // A value may itself contain "=" and may look like a flag.
    assert.equal(parseConfig(["--socket-group=a=b"], {}).socketGroup, "a=b");
    assert.equal(parseConfig(["--default-network", "--weird"], {}).defaultNetwork, "--weird");
    assert.equal(parseConfig(["--default-network="], {}).defaultNetwork, "");
    assert.equal(parseConfig(["--foreground=false"], {}).foreground, false);
    assert.equal(parseConfig(["--foreground=1"], {}).foreground, true);
  });

  void it("rejects unknown flags and flags missing a value with WEAVE_CONFIG", () => {
    configError(() => parseConfig(["--nope"], {}), "--nope");
    configError(() => parseConfig(["positional"], {}), "positional");
    configError(() => parseConfig(["--state-dir"], {}), "--state-dir", "needs a value");
  });

  void it("an invalid log level names the flag and the env twin", () => {
    configError(() => parseConfig(["--log-level", "verbose"], {}), "--log-level", "verbose");
    configError(
      () => parseConfig([], { WEAVE_LOG_LEVEL: "trace" }),
      "--log-level",
      "WEAVE_LOG_LEVEL",
      "trace",
    );
  });

  void it("an invalid MTU names the flag", () => {
    for (const v of ["abc", "575", "65536", "1500.5", "-1", " 1500"]) {
      configError(() => parseConfig([`--mtu=${v}`], {}), "--mtu");
    }
    configError(() => parseConfig([], { WEAVE_MTU: "10" }), "--mtu", "WEAVE_MTU");
    assert.equal(parseConfig(["--mtu=576"], {}).mtu, 576);
    assert.equal(parseConfig(["--mtu", "65535"], {}).mtu, 65535);
  });

  void it("a parser's error is the problem quoted in full, after the flag and its variable", () => {
    for (const [argv, message] of [
      [
        ["--ipalloc-range", "10.32.0.1/12"],
        'Invalid value "10.32.0.1/12" for --ipalloc-range (WEAVE_IPALLOC_RANGE): Invalid CIDR "10.32.0.1/12": host bits are set (did you mean "10.32.0.0/12"?)',
      ],
      [
        ["--ipalloc-range", "fd00::/48"],
        'Invalid value "fd00::/48" for --ipalloc-range (WEAVE_IPALLOC_RANGE): expected an IPv4 CIDR of /24 or larger',
      ],
      [
        ["--store", "etcd://"],
        'Invalid value "etcd://" for --store (WEAVE_STORE): Invalid store URL "etcd://": no host given',
      ],
      [["--dns-port", "0"], 'Invalid value "0" for --dns-port (WEAVE_DNS_PORT): expected a port'],
      [["--vxlan-port=65536"], 'Invalid value "65536" for --vxlan-port (WEAVE_VXLAN_PORT): expected a port'],
    ] as const) {
      assert.throws(() => parseConfig(argv, {}), { code: "WEAVE_CONFIG", message }, argv.join(" "));
    }
    assert.equal(parseConfig(["--dns-port", "65535", "--vxlan-port", "1"], {}).vxlanPort, 1);
  });

  void it("an invalid range names the flag", () => {
    for (const v of ["10.32.0.0", "10.32.0.1/12", "10.32.0.0/25", "fd00::/48", "nonsense", "10.32.0.0/33"]) {
      configError(() => parseConfig(["--ipalloc-range", v], {}), "--ipalloc-range", v);
    }
    assert.equal(parseConfig(["--ipalloc-range", "192.168.0.0/24"], {}).ipallocRange, "192.168.0.0/24");
  });

  void it("an invalid nameserver names the flag", () => {
    for (const v of ["dns.example", "10.0.0", "10.0.0.1/32"]) {
      configError(() => parseConfig(["--nameserver", v], {}), "--nameserver", v);
    }
    assert.equal(parseConfig(["--nameserver", "fd00::53"], {}).nameserver, "fd00::53");
    assert.equal(parseConfig(["--nameserver="], {}).nameserver, undefined);
  });

  void it("the driver name defaults to the socket's file name; --driver-name overrides it", () => {
    assert.equal(parseConfig([], {}).driverName, "weave");
    assert.equal(parseConfig(["--socket", "/run/docker/plugins/net2.sock"], {}).driverName, "net2");
    assert.equal(parseConfig([], { WEAVE_SOCKET: "/tmp/w.sock" }).driverName, "w");
    assert.equal(parseConfig(["--driver-name", "weave:latest"], {}).driverName, "weave:latest");
    assert.equal(parseConfig([], { WEAVE_DRIVER_NAME: "myorg/weave:1.0" }).driverName, "myorg/weave:1.0");
    assert.equal(parseConfig(["--driver-name="], {}).driverName, "weave", "empty means derived");
    for (const v of ["has space", "/abs", ":latest", "a\nb"]) {
      configError(() => parseConfig(["--driver-name", v], {}), "--driver-name", "WEAVE_DRIVER_NAME");
    }
  });

  void it('--status-addr takes IP:PORT or [IPv6]:PORT, or "" to turn the status server off', () => {
    assert.equal(parseConfig(["--status-addr", "0.0.0.0:6782"], {}).statusAddr, "0.0.0.0:6782");
    assert.equal(parseConfig(["--status-addr=[fd00::1]:80"], {}).statusAddr, "[fd00::1]:80");
    assert.equal(parseConfig(["--status-addr="], {}).statusAddr, "");
    assert.equal(parseConfig([], { WEAVE_STATUS_ADDR: "" }).statusAddr, "");
    for (const v of [
      "6782",
      ":6782",
      "localhost:6782",
      "127.0.0.1",
      "127.0.0.1:0",
      "127.0.0.1:65536",
      "::1:80",
      "[10.0.0.1]:80",
      "300.1.1.1:80",
    ]) {
      configError(() => parseConfig(["--status-addr", v], {}), "--status-addr", "WEAVE_STATUS_ADDR", v);
    }
  });

  void it("an invalid boolean names the flag", () => {
    configError(() => parseConfig(["--foreground=yes"], {}), "--foreground");
    configError(() => parseConfig([], { WEAVE_FOREGROUND: "on" }), "--foreground");
  });

  void it("every flag has a WEAVE_ env twin and appears in flagsHelp()", () => {
    const help = flagsHelp();
    const envs = new Set<string>();
    const flags = new Set<string>();
    for (const f of FLAGS) {
      assert.match(f.flag, /^--[a-z][a-z-]*$/);
      assert.match(f.env, /^WEAVE_[A-Z_]+$/);
      assert.equal(f.env, "WEAVE_" + f.flag.slice(2).toUpperCase().replaceAll("-", "_"), f.flag);
      assert.ok(help.includes(f.flag), `${f.flag} missing from help`);
      assert.ok(help.includes(`env: ${f.env}`), `${f.env} missing from help`);
      assert.ok(help.includes(f.help), `help text of ${f.flag} missing`);
      envs.add(f.env);
      flags.add(f.flag);
    }
    assert.equal(envs.size, FLAGS.length, "env names are unique");
    assert.equal(flags.size, FLAGS.length, "flag names are unique");
    // Each flag's value really comes from its env twin.
    const sample: Partial<Record<string, string>> = {
      logLevel: "warning",
      driverName: "weave:latest",
      mtu: "1234",
      nameserver: "10.9.9.9",
      ipallocRange: "10.50.0.0/16",
      foreground: "true",
      noDns: "true",
      dnsDomain: "example.internal",
      dnsTtl: "30",
      dnsUpstream: "192.0.2.53:5353",
      dnsPort: "5353",
      dnsWorkers: "2",
      statusAddr: "10.1.2.3:9100",
      store: "etcd://10.0.0.1:2379",
      advertiseAddr: "10.0.0.9",
      name: "host-9",
      vxlanPort: "8472",
      transport: "vxlan",
      wireguardPort: "51999",
    };
    for (const f of FLAGS) {
      const value = sample[f.key] ?? `/x/${f.key}`;
      // A password needs a cluster.
      const env = f.key === "passwordFile" ? { WEAVE_STORE: "etcd://10.0.0.1:2379" } : {};
      assert.equal(String(parseConfig([], { ...env, [f.env]: value })[f.key]), value, f.env);
      assert.equal(String(parseConfig([`${f.flag}=${value}`], env)[f.key]), value, f.flag);
    }
  });

  void it("controlSocketPath is under the run dir", () => {
    assert.equal(controlSocketPath("/run/weave"), "/run/weave/weave.sock");
  });
});
