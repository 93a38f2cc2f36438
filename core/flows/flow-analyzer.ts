import type { PacketAnalyzer } from "../dispatch/dispatcher.ts";
import type { PacketCursor } from "../dispatch/layer-views.ts";
import type { EventBus } from "../event-bus.ts";

/** Placeholder: the flow table and application analyzers (filled in by the application-layer work). */
export class FlowAnalyzer implements PacketAnalyzer {
  constructor(private readonly bus: EventBus) {}
  packet(_c: PacketCursor): void {}
  finish(): void {}
  stats(): { active: number; total: number } | undefined {
    return this.bus.has("flow.end") ? { active: 0, total: 0 } : undefined;
  }
}
