/**
 * Name tables that libpcap takes from the system: service names for `port`/`portrange`
 * (getaddrinfo, i.e. /etc/services), protocol names for `proto` (getprotobyname, /etc/protocols), and
 * its own tables of Ethernet and LLC protocol names for `ether proto`.
 *
 * Host names are deliberately absent: resolving them would need DNS in a decode worker, make a
 * filter's meaning depend on when it was compiled, and tcpdump users can write addresses instead.
 *
 * The service and protocol lists are those of Debian's netbase package (the system the reference
 * tcpdump 4.99.3 ran on), so `port domain` or `proto \ospf` mean here what they meant there. They are
 * stored compactly as "port[/protocols] name alias..." entries separated by ";"; a port without
 * "/protocols" is registered for both TCP and UDP.
 */

const serviceText =
  "1/tcp tcpmux;7 echo;9 discard sink null;11/tcp systat users;13 daytime;15/tcp netstat;17/tcp qotd quote;" +
  "19 chargen ttytst source;20/tcp ftp-data;21/tcp ftp;21/udp fsp fspd;22/tcp ssh;23/tcp telnet;" +
  "25/tcp smtp mail;37 time timserver;43/tcp whois nicname;49 tacacs;53 domain;67/udp bootps;68/udp bootpc;" +
  "69/udp tftp;70/tcp gopher;79/tcp finger;80/tcp http www;88 kerberos kerberos5 krb5 kerberos-sec;" +
  "102/tcp iso-tsap tsap;104/tcp acr-nema dicom;110/tcp pop3 pop-3;111 sunrpc portmapper;" +
  "113/tcp auth authentication tap ident;119/tcp nntp readnews untp;123/udp ntp;135/tcp epmap loc-srv;" +
  "137/udp netbios-ns;138/udp netbios-dgm;139/tcp netbios-ssn;143/tcp imap2 imap;161 snmp;" +
  "162 snmp-trap snmptrap;163 cmip-man;164 cmip-agent;174/tcp mailq;177/udp xdmcp;179/tcp bgp;199/tcp smux;" +
  "209/tcp qmtp;210/tcp z3950 wais;213/udp ipx;319/udp ptp-event;320/udp ptp-general;345/tcp pawserv;" +
  "346/tcp zserv;369 rpc2portmap;370 codaauth2;371/udp clearcase Clearcase;389 ldap;427 svrloc;443 https;" +
  "444/tcp snpp;445/tcp microsoft-ds;464 kpasswd;465/tcp submissions ssmtp smtps urd;487/tcp saft;" +
  "500/udp isakmp;554 rtsp;607/tcp nqs;623/udp asf-rmcp;628/tcp qmqp;631/tcp ipp;646 ldp;512/tcp exec;" +
  "512/udp biff comsat;513/tcp login;513/udp who whod;514/tcp shell cmd syslog;514/udp syslog;" +
  "515/tcp printer spooler;517/udp talk;518/udp ntalk;520/udp route router routed;538 gdomap;540/tcp uucp uucpd;" +
  "543/tcp klogin;544/tcp kshell krcmd;546/udp dhcpv6-client;547/udp dhcpv6-server;548/tcp afpovertcp;" +
  "563/tcp nntps snntp;587/tcp submission;636 ldaps;655 tinc;706/tcp silc;749/tcp kerberos-adm;853 domain-s;" +
  "873/tcp rsync;989/tcp ftps-data;990/tcp ftps;992/tcp telnets;993/tcp imaps;995/tcp pop3s;1080/tcp socks;" +
  "1093/tcp proofd;1094/tcp rootd;1194 openvpn;1099/tcp rmiregistry;1352/tcp lotusnote lotusnotes;" +
  "1433/tcp ms-sql-s;1434/udp ms-sql-m;1524/tcp ingreslock;1645 datametrics old-radius;" +
  "1646 sa-msg-port old-radacct;1649/tcp kermit;1677/tcp groupwise;1701/udp l2f l2tp;1812 radius;" +
  "1813 radius-acct radacct;2000/tcp cisco-sccp;2049 nfs;2086 gnunet;2101 rtcm-sc104;2119/tcp gsigatekeeper;" +
  "2135/tcp gris;2401/tcp cvspserver;2430 venus;2431 venus-se;2432 codasrv;2433 codasrv-se;2583 mon;" +
  "2628/tcp dict;2792/tcp f5-globalsite;2811/tcp gsiftp;2947/tcp gpsd;3050/tcp gds-db gds_db;3130/udp icpv2 icp;" +
  "3205 isns;3260/tcp iscsi-target;3306/tcp mysql;3389/tcp ms-wbt-server;3493 nut;3632/tcp distcc;3689/tcp daap;" +
  "3690/tcp svn subversion;4031/tcp suucp;4094/tcp sysrqd;4190/tcp sieve;4369/tcp epmd;4373/tcp remctl;" +
  "4353/tcp f5-iquery;4460/tcp ntske;4500/udp ipsec-nat-t;4569/udp iax;4691/tcp mtn;4899/tcp radmin-port;" +
  "5060 sip;5061 sip-tls;5222/tcp xmpp-client jabber-client;5269/tcp xmpp-server jabber-server;" +
  "5308/tcp cfengine;5353/udp mdns;5432/tcp postgresql postgres;5556/tcp freeciv rptp;5671/tcp amqps;" +
  "5672/tcp+sctp amqp;6000/tcp x11 x11-0;6001/tcp x11-1;6002/tcp x11-2;6003/tcp x11-3;6004/tcp x11-4;" +
  "6005/tcp x11-5;6006/tcp x11-6;6007/tcp x11-7;6346 gnutella-svc;6347 gnutella-rtr;6379/tcp redis;" +
  "6444/tcp sge-qmaster sge_qmaster;6445/tcp sge-execd sge_execd;6446/tcp mysql-proxy;6696/udp babel;" +
  "6697/tcp ircs-u;7000/tcp bbs;7000/udp afs3-fileserver;7001/udp afs3-callback;7002/udp afs3-prserver;" +
  "7003/udp afs3-vlserver;7004/udp afs3-kaserver;7005/udp afs3-volser;7007/udp afs3-bos;7008/udp afs3-update;" +
  "7009/udp afs3-rmtsys;7100/tcp font-service xfs;8080/tcp http-alt webcache;8140/tcp puppet;" +
  "9101/tcp bacula-dir;9102/tcp bacula-fd;9103/tcp bacula-sd;9667/tcp xmms2;10809/tcp nbd;" +
  "10050/tcp zabbix-agent;10051/tcp zabbix-trapper;10080/tcp amanda;11112/tcp dicom;11371/tcp hkp;" +
  "17500/tcp db-lsp;22125/tcp dcap;22128/tcp gsidcap;22273/tcp wnn6;750 kerberos4 kerberos-iv kdc;" +
  "751/udp kerberos-master kerberos_master;751/tcp kerberos-master;752/udp passwd-server passwd_server;" +
  "754/tcp krb-prop krb_prop krb5_prop hprop;2102/udp zephyr-srv;2103/udp zephyr-clt;2104/udp zephyr-hm;" +
  "2121/tcp iprop;871/tcp supfilesrv;1127/tcp supfiledbg;106/tcp poppassd;775/tcp moira-db moira_db;" +
  "777/tcp moira-update moira_update;779/udp moira-ureg moira_ureg;783/tcp spamd;1178/tcp skkserv;" +
  "1210/udp predict;1236/tcp rmtcfg;1313/tcp xtel;1314/tcp xtelw;2600/tcp zebrasrv;2601/tcp zebra;2602/tcp ripd;" +
  "2603/tcp ripngd;2604/tcp ospfd;2605/tcp bgpd;2606/tcp ospf6d;2607/tcp ospfapi;2608/tcp isisd;4557/tcp fax;" +
  "4559/tcp hylafax;4949/tcp munin lrrd;5555/udp rplay;5666/tcp nrpe;5667/tcp nsca;5680/tcp canna;" +
  "6514/tcp syslog-tls;6566/tcp sane-port sane saned;6667/tcp ircd;8021/tcp zope-ftp;8081/tcp tproxy;" +
  "8088/tcp omniorb;8990/tcp clc-build-daemon;9098/tcp xinetd;9418/tcp git;9673/tcp zope;10000/tcp webmin;" +
  "10081/tcp kamanda;10082/tcp amandaidx;10083/tcp amidxtape;17001/udp sgi-cmsd;17002/udp sgi-crsd;" +
  "17003/udp sgi-gcd;17004/tcp sgi-cad;24554/tcp binkp;27374 asp;30865/tcp csync2;57000/tcp dircproxy;" +
  "60177/tcp tfido;60179/tcp fido";

const protocolText =
  "0 ip IP;0 hopopt HOPOPT;1 icmp ICMP;2 igmp IGMP;3 ggp GGP;4 ipencap IP-ENCAP;5 st ST;6 tcp TCP;8 egp EGP;" +
  "9 igp IGP;12 pup PUP;17 udp UDP;20 hmp HMP;22 xns-idp XNS-IDP;27 rdp RDP;29 iso-tp4 ISO-TP4;33 dccp DCCP;" +
  "36 xtp XTP;37 ddp DDP;38 idpr-cmtp IDPR-CMTP;41 ipv6 IPv6;43 ipv6-route IPv6-Route;44 ipv6-frag IPv6-Frag;" +
  "45 idrp IDRP;46 rsvp RSVP;47 gre GRE;50 esp IPSEC-ESP;51 ah IPSEC-AH;57 skip SKIP;58 ipv6-icmp IPv6-ICMP;" +
  "59 ipv6-nonxt IPv6-NoNxt;60 ipv6-opts IPv6-Opts;73 rspf RSPF CPHB;81 vmtp VMTP;88 eigrp EIGRP;" +
  "89 ospf OSPFIGP;93 ax.25 AX.25;94 ipip IPIP;97 etherip ETHERIP;98 encap ENCAP;103 pim PIM;108 ipcomp IPCOMP;" +
  "112 vrrp VRRP;115 l2tp L2TP;124 isis ISIS;132 sctp SCTP;133 fc FC;135 mobility-header Mobility-Header;" +
  "136 udplite UDPLite;137 mpls-in-ip MPLS-in-IP;138 manet;139 hip HIP;140 shim6 Shim6;141 wesp WESP;" +
  "142 rohc ROHC;143 ethernet Ethernet;262 mptcp MPTCP";

/** Protocol numbers a service name was found under. */
export interface ServicePort {
  readonly port: number;
  /** "tcp", "udp", "sctp", or undefined when TCP and UDP both have the name with the same port. */
  readonly protocol: "tcp" | "udp" | "sctp" | undefined;
}

let services: Map<string, { tcp?: number; udp?: number; sctp?: number }> | undefined;
let protocols: Map<string, number> | undefined;

function serviceTable(): Map<string, { tcp?: number; udp?: number; sctp?: number }> {
  if (services) return services;
  services = new Map();
  for (const entry of serviceText.split(";")) {
    const [portSpec, ...names] = entry.split(" ");
    const [portText, protoText] = portSpec!.split("/");
    const port = Number(portText);
    const protos = protoText === undefined ? ["tcp", "udp"] : protoText.split("+");
    for (const name of names) {
      const known = services.get(name) ?? {};
      // Like getaddrinfo, the first entry for a name and protocol wins.
      for (const proto of protos) {
        const key = proto as "tcp" | "udp" | "sctp";
        if (known[key] === undefined) known[key] = port;
      }
      services.set(name, known);
    }
  }
  return services;
}

/**
 * Looks a service name up the way libpcap's pcap_nametoport() does: the TCP entry wins, and the
 * name means both TCP and UDP only when both entries have the same port. Returns undefined for an
 * unknown name.
 */
export function lookupService(name: string): ServicePort | undefined {
  const known = serviceTable().get(name);
  if (known === undefined) return undefined;
  if (known.tcp !== undefined) {
    return { port: known.tcp, protocol: known.udp === known.tcp ? undefined : "tcp" };
  }
  if (known.udp !== undefined) return { port: known.udp, protocol: "udp" };
  // libpcap 1.10 asks getaddrinfo for TCP and UDP only, so an SCTP-only name is unknown to it.
  return undefined;
}

/** Looks an IP protocol name (or alias) up like getprotobyname(); undefined if unknown. */
export function lookupIpProtocol(name: string): number | undefined {
  if (!protocols) {
    protocols = new Map();
    for (const entry of protocolText.split(";")) {
      const [numberText, ...names] = entry.split(" ");
      for (const n of names) if (!protocols.has(n)) protocols.set(n, Number(numberText));
    }
  }
  return protocols.get(name);
}

/** libpcap's eproto_db: names accepted by `ether proto \NAME`, with their EtherTypes. */
const etherProtocols: ReadonlyMap<string, number> = new Map([
  ["aarp", 0x80f3], ["arp", 0x0806], ["atalk", 0x809b], ["decnet", 0x6003], ["ip", 0x0800], ["ip6", 0x86dd],
  ["lat", 0x6004], ["loopback", 0x9000], ["mopdl", 0x6001], ["moprc", 0x6002], ["rarp", 0x8035], ["sca", 0x6007],
]);

/** libpcap's llc_db: LLC SAP names also accepted by `ether proto \NAME`. */
const llcProtocols: ReadonlyMap<string, number> = new Map([
  ["iso", 0xfe], ["stp", 0x42], ["ipx", 0xe0], ["netbeui", 0xf0],
]);

/** Looks a link-layer protocol name up like pcap_nametoeproto() then pcap_nametollc(). */
export function lookupLinkProtocol(name: string): number | undefined {
  return etherProtocols.get(name) ?? llcProtocols.get(name);
}
