/**
 * conn_state, history and payload bytes of the flow records against Zeek's own conn.log for the
 * captures of Zeek's test suite that its baselines log in full (zeek/zeek at a13de64, files
 * testing/btest/Baseline/<test>/conn.log for the tests that read these captures without a filter).
 * The rows below are copied from those baselines; the captures are in the shared folder (never copied
 * here), so the test is skipped without it.
 *
 * Zeek may have swapped a connection's roles ("^" in its history). The flow record's side a is then
 * Zeek's final originator or its responder; the comparison swaps the record's sides and the case of
 * its letters to match. Zeek leaves orig_bytes and resp_bytes unset (null) for a connection of one
 * packet. Two baselines log only the history of their one connection (tcp-syslog and
 * variant-03-cl_negative): their other columns are null here, and not compared.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { runApp } from "./app-run.ts";

const kCaptures = fileURLToPath(new URL("../../../shared/captures/zeek", import.meta.url));
const capturesMissing = existsSync(kCaptures) ? false : `no shared captures at ${kCaptures}`;

type ConnRow = [capture: string, proto: string, orig: string, origPort: number, resp: string, respPort: number, connState: string | null, history: string, origBytes: number | null, respBytes: number | null];

// prettier-ignore
const kZeekConnLog: ConnRow[] = [
  ["connect-with-header.pcap", "tcp", "::1", 52522, "::1", 80, "S1", "ShAaDd", 3644, 55499],
  ["get.pcap", "tcp", "141.142.228.5", 59856, "192.150.187.43", 80, "SF", "ShADadFf", 136, 5007],
  ["irc-starttls.pcap", "tcp", "203.143.168.47", 55123, "185.18.76.170", 6667, "SF", "ShADadFRf", 913, 1903],
  ["missing-syn.pcap", "tcp", "141.42.64.125", 56730, "125.190.109.199", 80, "SF", "^hADdFaf", 98, 9417],
  ["mixed-vlan-mpls.pcap", "tcp", "10.1.2.1", 11001, "10.34.0.1", 23, "SH", "SADF", 26, 0],
  ["mixed-vlan-mpls.pcap", "tcp", "10.20.80.1", 50343, "10.0.0.15", 80, "SF", "ShADadfF", 9, 3429],
  ["mixed-vlan-mpls.pcap", "tcp", "141.42.64.125", 56730, "125.190.109.199", 80, "SF", "ShADdFaf", 98, 9417],
  ["mpls-in-vlan.pcap", "tcp", "65.65.65.65", 19244, "65.65.65.65", 80, "OTH", "D", null, null],
  ["mpls-in-vlan.pcap", "tcp", "65.65.65.65", 32828, "65.65.65.65", 80, "OTH", "^d", null, null],
  ["mpls-in-vlan.pcap", "tcp", "65.65.65.65", 61193, "65.65.65.65", 80, "OTH", "D", null, null],
  ["pcapng-multi-interface.pcapng", "udp", "10.0.0.4", 56351, "1.1.1.1", 53, "SF", "Dd", 28, 124],
  ["pcapng-multi-interface.pcapng", "udp", "10.0.0.4", 56352, "1.1.1.1", 53, "SF", "Dd", 28, 140],
  ["pcapng-multi-interface.pcapng", "udp", "172.17.0.2", 36343, "1.1.1.1", 53, "SF", "Dd", 54, 172],
  ["q-in-q.pcap", "udp", "172.19.51.37", 47808, "172.19.51.63", 47808, "S0", "D", 36, 0],
  ["q-in-q.pcap", "udp", "193.1.186.60", 9875, "224.2.127.254", 9875, "S0", "D", 552, 0],
  ["tcp-syslog.pcap", "tcp", "192.168.1.1", 12345, "192.168.1.2", 514, null, "ShADFf", null, null],
  ["variant-03-cl_negative.pcap", "tcp", "192.168.1.100", 40003, "192.168.1.200", 80, null, "ShADaFf", null, null],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 35634, "208.80.152.2", 80, "OTH", "DdA", 463, 350],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 35642, "208.80.152.2", 80, "S1", "ShADad", 534, 412],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 48649, "208.80.152.118", 80, "S1", "ShADad", 525, 232],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 49996, "208.80.152.3", 80, "S1", "ShADad", 1171, 733],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 49997, "208.80.152.3", 80, "S1", "ShADad", 1125, 734],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 49998, "208.80.152.3", 80, "S1", "ShADad", 1130, 734],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 49999, "208.80.152.3", 80, "S1", "ShADad", 1137, 733],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 50000, "208.80.152.3", 80, "S1", "ShADad", 1148, 734],
  ["wikipedia.pcap", "tcp", "141.142.220.118", 50001, "208.80.152.3", 80, "S1", "ShADad", 1178, 734],
  ["wikipedia.pcap", "tcp", "141.142.220.235", 6705, "173.192.163.128", 80, "OTH", "^h", null, null],
  ["wikipedia.pcap", "udp", "141.142.220.118", 32902, "141.142.2.2", 53, "SF", "Dd", 38, 89],
  ["wikipedia.pcap", "udp", "141.142.220.118", 37676, "141.142.2.2", 53, "SF", "Dd", 52, 99],
  ["wikipedia.pcap", "udp", "141.142.220.118", 38911, "141.142.2.2", 53, "SF", "Dd", 52, 99],
  ["wikipedia.pcap", "udp", "141.142.220.118", 40526, "141.142.2.2", 53, "SF", "Dd", 38, 183],
  ["wikipedia.pcap", "udp", "141.142.220.118", 43927, "141.142.2.2", 53, "SF", "Dd", 38, 89],
  ["wikipedia.pcap", "udp", "141.142.220.118", 45000, "141.142.2.2", 53, "SF", "Dd", 38, 89],
  ["wikipedia.pcap", "udp", "141.142.220.118", 48128, "141.142.2.2", 53, "SF", "Dd", 38, 183],
  ["wikipedia.pcap", "udp", "141.142.220.118", 48479, "141.142.2.2", 53, "SF", "Dd", 52, 99],
  ["wikipedia.pcap", "udp", "141.142.220.118", 55092, "141.142.2.2", 53, "SF", "Dd", 36, 198],
  ["wikipedia.pcap", "udp", "141.142.220.118", 56056, "141.142.2.2", 53, "SF", "Dd", 36, 131],
  ["wikipedia.pcap", "udp", "141.142.220.118", 58206, "141.142.2.2", 53, "SF", "Dd", 38, 89],
  ["wikipedia.pcap", "udp", "141.142.220.118", 59714, "141.142.2.2", 53, "SF", "Dd", 38, 183],
  ["wikipedia.pcap", "udp", "141.142.220.118", 59746, "141.142.2.2", 53, "SF", "Dd", 38, 183],
  ["wikipedia.pcap", "udp", "141.142.220.118", 59816, "141.142.2.2", 53, "SF", "Dd", 52, 99],
  ["wikipedia.pcap", "udp", "141.142.220.202", 5353, "224.0.0.251", 5353, "S0", "D", null, null],
  ["wikipedia.pcap", "udp", "141.142.220.226", 137, "141.142.220.255", 137, "S0", "D", 350, 0],
  ["wikipedia.pcap", "udp", "141.142.220.226", 55131, "224.0.0.252", 5355, "S0", "D", 66, 0],
  ["wikipedia.pcap", "udp", "141.142.220.226", 55671, "224.0.0.252", 5355, "S0", "D", 66, 0],
  ["wikipedia.pcap", "udp", "141.142.220.238", 56641, "141.142.220.255", 137, "S0", "D", null, null],
  ["wikipedia.pcap", "udp", "141.142.220.44", 5353, "224.0.0.251", 5353, "S0", "D", null, null],
  ["wikipedia.pcap", "udp", "141.142.220.50", 5353, "224.0.0.251", 5353, "S0", "D", null, null],
  ["wikipedia.pcap", "udp", "fe80::217:f2ff:fed7:cf65", 5353, "ff02::fb", 5353, "S0", "D", null, null],
  ["wikipedia.pcap", "udp", "fe80::3074:17d5:2052:c324", 54213, "ff02::1:3", 5355, "S0", "D", 66, 0],
  ["wikipedia.pcap", "udp", "fe80::3074:17d5:2052:c324", 65373, "ff02::1:3", 5355, "S0", "D", 66, 0],
];

const swapCase = (s: string) => s.replace(/[a-zA-Z]/g, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()));

t.test("conn_state, history and payload bytes equal Zeek's conn.log on its own captures", { skip: capturesMissing }, async (t) => {
  const byCapture = new Map<string, ConnRow[]>();
  for (const row of kZeekConnLog) byCapture.set(row[0], [...(byCapture.get(row[0]) ?? []), row]);
  let equal = 0;
  for (const [capture, rows] of byCapture) {
    const result = await runApp(join(kCaptures, capture), { plugins: ["event-log"], options: ["event-log.events=conn"], format: "json" });
    const flows = result.lines.map((l) => JSON.parse(l) as Record<string, string | number>);
    for (const [, proto, orig, origPort, resp, respPort, connState, history, origBytes, respBytes] of rows) {
      const same = flows.find((f) => f.proto === proto && f.a === orig && f.aport === origPort && f.b === resp && f.bport === respPort);
      const swapped = flows.find((f) => f.proto === proto && f.b === orig && f.bport === origPort && f.a === resp && f.aport === respPort);
      const flow = same ?? swapped;
      const name = `${capture} ${proto} ${orig}:${origPort} -> ${resp}:${respPort}`;
      if (flow === undefined) {
        t.fail(`${name}: no flow record`);
        continue;
      }
      // Zeek's "^" says it swapped roles before the letters that follow it were written.
      const letters = history.replace(/^\^/, "");
      const actual = {
        conn_state: connState === null ? null : flow.conn_state,
        history: same ? flow.history : swapCase(String(flow.history)),
        orig_bytes: origBytes === null ? null : same ? flow.payload_ab : flow.payload_ba,
        resp_bytes: respBytes === null ? null : same ? flow.payload_ba : flow.payload_ab,
      };
      const expected = { conn_state: connState, history: letters, orig_bytes: origBytes, resp_bytes: respBytes };
      if (t.same(actual, expected, name)) equal++;
    }
  }
  t.comment(`conn.log: ${equal}/${kZeekConnLog.length} connections equal to Zeek's`);
  t.equal(equal, kZeekConnLog.length, "every connection");
});
