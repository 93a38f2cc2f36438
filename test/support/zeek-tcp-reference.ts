/**
 * A literal transcription of the parts of Zeek's TCP analysis that decide conn.log's conn_state,
 * history and orig_bytes/resp_bytes (zeek/src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc:
 * Process, init_endpoint, update_history, update_window, init_peer, update_ack_seq, update_last_seq,
 * get_relative_seq, UpdateStateMachine; src/analyzer/protocol/tcp/TCP_Endpoint: Size, NoDataAcked,
 * SetState, CheckHistory; src/session/Session: ScaledHistoryEntry; scripts/base/protocols/conn/
 * main.zeek: conn_state), kept as a test oracle for core/flows/conn-history.ts.
 *
 * It is deliberately written the way Zeek's C++ is, not the way the port is: one object per
 * endpoint, Zeek's names, uint32 arithmetic with `>>> 0` and uint64 with BigInt, no fast path. Two
 * things follow the port's documented choices instead of Zeek: relative sequence numbers for the
 * SYN/FIN/RST repeat check are 32-bit, and roles are never swapped (`flipped` says when Zeek would
 * have swapped them, so a test can leave such a sequence out).
 */

const INACTIVE = 0;
const SYN_SENT = 1;
const SYN_ACK_SENT = 2;
const PARTIAL = 3;
const ESTABLISHED = 4;
const CLOSED = 5;
const RESET = 6;
const TOO_LARGE_SEQ_DELTA = 1048576;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

const u64 = (x: bigint) => BigInt.asUintN(64, x);
const seqDelta = (a: number, b: number) => ((a >>> 0) - (b >>> 0)) | 0;

class Endpoint {
  state = INACTIVE;
  prev_state = INACTIVE;
  /** int64 in Zeek. */
  start_seq = 0n;
  last_seq = 0;
  ack_seq = 0;
  seq_wraps = 0;
  ack_wraps = 0;
  FIN_cnt = 0;
  hist_last_SYN = 0n;
  hist_last_FIN = 0n;
  hist_last_RST = 0n;
  rxmt_cnt = 0;
  rxmt_thresh = 1;
  win0_cnt = 0;
  win0_thresh = 1;
  peer!: Endpoint;

  constructor(
    readonly conn: ZeekTcpConnection,
    readonly isOrig: boolean,
  ) {}

  StartSeq(): number {
    return Number(BigInt.asUintN(32, this.start_seq));
  }
  InitStartSeq(seq: number): void {
    this.start_seq = BigInt(seq >>> 0);
  }
  InitLastSeq(seq: number): void {
    this.last_seq = seq >>> 0;
  }
  InitAckSeq(seq: number): void {
    this.ack_seq = seq >>> 0;
  }
  UpdateLastSeq(seq: number): void {
    if (seq >>> 0 < this.last_seq) this.seq_wraps = (this.seq_wraps + 1) >>> 0;
    this.last_seq = seq >>> 0;
  }
  UpdateAckSeq(seq: number): void {
    if (seq >>> 0 < this.ack_seq) this.ack_wraps = (this.ack_wraps + 1) >>> 0;
    this.ack_seq = seq >>> 0;
  }
  ToRelativeSeqSpace(seq: number, wraps: number): bigint {
    return u64((BigInt(wraps) << 32n) + BigInt(seq >>> 0) - this.start_seq);
  }
  NoDataAcked(): boolean {
    const ack = (BigInt(this.ack_wraps) << 32n) + BigInt(this.ack_seq);
    const start = u64(this.start_seq);
    return ack === start || ack === start + 1n;
  }
  SetState(state: number): void {
    if (state === this.state) return;
    this.prev_state = this.state;
    this.state = state;
  }
  Size(): bigint {
    if (this.prev_state === SYN_SENT && this.state === RESET && this.peer.state === INACTIVE && !this.NoDataAcked()) return 0n;
    const last = (BigInt(this.seq_wraps) << 32n) + BigInt(this.last_seq);
    const ack = (BigInt(this.ack_wraps) << 32n) + BigInt(this.ack_seq);
    let size = last > ack ? u64(last - this.start_seq) : u64(ack - this.start_seq);
    if (size !== 0n) size = u64(size - 1n);
    if (this.FIN_cnt > 0 && size !== 0n) size = u64(size - 1n);
    return size;
  }
  CheckHistory(mask: number, code: string): boolean {
    // Zeek swaps the roles here when the history so far is a lone SYN+ACK.
    if ((code === "A" || code === "D") && this.conn.history === "H") this.conn.flipped = true;
    if (!this.isOrig) {
      mask <<= 16;
      code = code.toLowerCase();
    }
    if ((this.conn.hist_seen & mask) === 0) {
      this.conn.hist_seen |= mask;
      this.conn.history += code;
      return false;
    }
    return true;
  }
  AddHistory(code: string): void {
    this.conn.history += this.isOrig ? code : code.toLowerCase();
  }
  /** ScaledHistoryEntry with uint32 counters and thresholds. */
  Scaled(code: string, which: "rxmt" | "win0"): void {
    const count = which === "rxmt" ? "rxmt_cnt" : "win0_cnt";
    const thresh = which === "rxmt" ? "rxmt_thresh" : "win0_thresh";
    this[count] = (this[count] + 1) >>> 0;
    if (this[count] !== this[thresh]) return;
    this.AddHistory(code);
    const next = Number((BigInt(this[thresh]) * 10n) & 0xffffffffn);
    if (next <= this[thresh]) this[count] = 0;
    else this[thresh] = next;
  }
}

/** One TCP connection as Zeek follows it, fed with `process`. */
export class ZeekTcpConnection {
  history = "";
  hist_seen = 0;
  /** Zeek would have swapped originator and responder. */
  flipped = false;
  readonly orig: Endpoint = new Endpoint(this, true);
  readonly resp: Endpoint = new Endpoint(this, false);

  constructor() {
    this.orig.peer = this.resp;
    this.resp.peer = this.orig;
  }

  /** TCPSessionAdapter::Process, for what conn.log shows. `len` is the payload length the IP header gives. */
  process(isOrig: boolean, flags: number, baseSeq: number, ackSeq: number, len: number, window: number): void {
    const base_seq = baseSeq >>> 0;
    const ack_seq = ackSeq >>> 0;
    const syn = (flags & SYN) !== 0;
    const fin = (flags & FIN) !== 0;
    const rst = (flags & RST) !== 0;
    const ack = (flags & ACK) !== 0;
    const endpoint = isOrig ? this.orig : this.resp;
    const peer = endpoint.peer;
    let seg_len = len;
    if (syn) seg_len++;
    if (fin) seg_len++;
    if (rst) seg_len -= len;
    const one_past = (base_seq + seg_len) >>> 0;

    // init_endpoint
    switch (endpoint.state) {
      case INACTIVE: {
        let last = one_past;
        if (syn) {
          endpoint.InitAckSeq(base_seq);
          endpoint.InitStartSeq(base_seq);
        } else {
          endpoint.InitAckSeq(base_seq - 1);
          endpoint.InitStartSeq((base_seq - 1) >>> 0);
          last = base_seq;
        }
        endpoint.InitLastSeq(last);
        break;
      }
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (syn && base_seq !== endpoint.StartSeq()) this.restart(endpoint, base_seq, one_past);
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (syn) this.restart(endpoint, base_seq, one_past);
        break;
      case RESET:
        if (syn && endpoint.prev_state === INACTIVE) this.restart(endpoint, base_seq, one_past);
        break;
    }
    // The port's choice: 32-bit relative numbers (Zeek's count the wraps).
    const rel_seq = BigInt.asUintN(32, this.relativeSeq(endpoint, base_seq, endpoint.last_seq, endpoint.seq_wraps).seq);

    // update_history
    const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (bits > 1) {
      if (fin && rst) endpoint.CheckHistory(0x8, "I");
      else endpoint.CheckHistory(0x40, "Q");
    } else if (bits === 1) {
      if (syn) {
        const code = ack ? "H" : "S";
        if (endpoint.CheckHistory(0x1, code) && rel_seq !== endpoint.hist_last_SYN) endpoint.AddHistory(code);
        endpoint.hist_last_SYN = rel_seq;
      }
      if (fin) {
        const end = BigInt.asUintN(32, rel_seq + BigInt(len));
        if (endpoint.CheckHistory(0x2, "F") && end !== endpoint.hist_last_FIN) endpoint.AddHistory("F");
        endpoint.hist_last_FIN = end;
      }
      if (rst) {
        if (endpoint.CheckHistory(0x4, "R") && rel_seq !== endpoint.hist_last_RST) endpoint.AddHistory("R");
        endpoint.hist_last_RST = rel_seq;
      }
    } else if (len) {
      endpoint.CheckHistory(0x10, "D");
    } else if (ack) {
      endpoint.CheckHistory(0x20, "A");
    }

    // update_window: only its zero-window check shows in the history.
    if (window === 0 && !rst && peer.state !== CLOSED && endpoint.state !== RESET) endpoint.Scaled("W", "win0");
    if (fin) endpoint.FIN_cnt++;
    if (ack) {
      if (peer.state === INACTIVE) {
        // init_peer
        peer.InitStartSeq((ack_seq - 1) >>> 0);
        peer.InitAckSeq(ack_seq - 1);
        peer.InitLastSeq(ack_seq - 1);
      } else if (!this.relativeSeq(peer, ack_seq, peer.ack_seq, peer.ack_wraps).underflow && !rst) {
        // update_ack_seq
        const delta = seqDelta(ack_seq, peer.ack_seq);
        if (!(ack_seq === 0 && delta > TOO_LARGE_SEQ_DELTA) && delta > 0) peer.UpdateAckSeq(ack_seq);
      }
    }

    // update_last_seq
    const delta_last = seqDelta(one_past, endpoint.last_seq);
    if ((syn || rst) && (delta_last > TOO_LARGE_SEQ_DELTA || delta_last < -TOO_LARGE_SEQ_DELTA)) {
      // not trusted
    } else if (fin && endpoint.last_seq === ((endpoint.StartSeq() + 1) >>> 0)) {
      endpoint.UpdateLastSeq(one_past);
    } else if (endpoint.state === RESET) {
      // not trusted
    } else if (delta_last > 0) {
      endpoint.UpdateLastSeq(one_past);
    } else if (delta_last <= 0 && len > 0) {
      endpoint.Scaled("T", "rxmt");
    }

    this.updateStateMachine(isOrig, endpoint, peer, syn, fin, rst, ack, base_seq, len);
  }

  private restart(endpoint: Endpoint, seq: number, onePast: number): void {
    endpoint.InitStartSeq(seq);
    endpoint.InitAckSeq(seq);
    endpoint.InitLastSeq(onePast);
  }

  private updateStateMachine(isOrig: boolean, endpoint: Endpoint, peer: Endpoint, syn: boolean, fin: boolean, rst: boolean, ack: boolean, base_seq: number, len: number): void {
    switch (endpoint.state) {
      case INACTIVE:
        if (syn) {
          if (isOrig) {
            endpoint.SetState(ack ? SYN_ACK_SENT : SYN_SENT);
          } else {
            if (!ack && peer.state === SYN_ACK_SENT && base_seq === endpoint.StartSeq()) {
              // A SYN/SYN-ACK reversal: Zeek swaps the roles.
              this.flipped = true;
              peer.SetState(ESTABLISHED);
            }
            if (peer.state === SYN_SENT) peer.SetState(ESTABLISHED);
            endpoint.SetState(ESTABLISHED);
          }
        }
        if (fin) endpoint.SetState(CLOSED);
        if (rst) endpoint.SetState(RESET);
        if (endpoint.state === INACTIVE) {
          if (!isOrig && len === 0 && this.orig.state === SYN_SENT) {
            // an ACK of the SYN before the SYN+ACK
          } else if (ack && peer.state === ESTABLISHED) {
            endpoint.SetState(ESTABLISHED);
          } else {
            endpoint.SetState(PARTIAL);
          }
        }
        break;
      case SYN_SENT:
      case SYN_ACK_SENT:
        if (fin) endpoint.SetState(CLOSED);
        if (rst) endpoint.SetState(RESET);
        break;
      case ESTABLISHED:
      case PARTIAL:
        if (syn && endpoint.state === PARTIAL && peer.state === INACTIVE && !ack) endpoint.SetState(SYN_SENT);
        if (fin && !rst) {
          endpoint.SetState(CLOSED);
          if (peer.state === RESET && peer.prev_state === CLOSED) peer.SetState(CLOSED);
        }
        if (rst) endpoint.SetState(RESET);
        break;
      case CLOSED:
        if (rst && peer.state !== CLOSED) endpoint.SetState(RESET);
        break;
    }
  }

  /** get_relative_seq, and whether it underflowed. */
  private relativeSeq(e: Endpoint, cur: number, last: number, wraps: number): { seq: bigint; underflow: boolean } {
    let delta = seqDelta(cur, last);
    if (delta < 0) {
      if (wraps && cur >>> 0 > last >>> 0) --wraps;
    } else if (delta > 0) {
      if (cur >>> 0 < last >>> 0) ++wraps;
    }
    if (wraps === 0) {
      delta = seqDelta(cur, e.StartSeq());
      return { seq: u64(BigInt(delta)), underflow: delta < 0 };
    }
    return { seq: e.ToRelativeSeqSpace(cur, wraps), underflow: false };
  }

  /** conn_state from base/protocols/conn/main.zeek. */
  connState(): string {
    const os = this.orig.state;
    const rs = this.resp.state;
    const o_inactive = os === INACTIVE || os === PARTIAL;
    const r_inactive = rs === INACTIVE || rs === PARTIAL;
    if (rs === RESET) {
      if (os === SYN_SENT || os === SYN_ACK_SENT || (os === RESET && this.orig.Size() === 0n && this.resp.Size() === 0n)) return "REJ";
      return o_inactive ? "RSTRH" : "RSTR";
    }
    if (os === RESET) {
      if (r_inactive) return /^\^?S[^HAFGIQ]*R.*$/.test(this.history) ? "RSTOS0" : "OTH";
      return "RSTO";
    }
    if (rs === CLOSED && os === CLOSED) return "SF";
    if (os === CLOSED) return r_inactive ? "SH" : "S2";
    if (rs === CLOSED) return o_inactive ? "SHR" : "S3";
    if (os === SYN_SENT && rs === INACTIVE) return "S0";
    if (os === ESTABLISHED && rs === ESTABLISHED) return "S1";
    return "OTH";
  }
}
