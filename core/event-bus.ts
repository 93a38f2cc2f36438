import { EventEmitter } from "eventemitter3";
import type { EventName, HostEvents } from "./events.ts";

/** A handler for event `K` of the event map. */
export type Handler<K extends EventName> = (ev: HostEvents[K]) => unknown;

/**
 * The typed event bus: an eventemitter3 emitter whose event names and payloads follow the event map.
 *
 * The dispatcher asks `has()` only when subscriptions change (`onChange`), never per packet: it keeps
 * the answer as a bit set, which is how a run that listens only to `tcp` builds nothing else.
 */
export class EventBus {
  /** The underlying emitter; the dispatcher calls `emit` on it directly in its hot loop. */
  readonly emitter = new EventEmitter<string>();
  private readonly changeListeners: Array<() => void> = [];

  /** Subscribes `fn` to `name`. */
  on<K extends EventName>(name: K, fn: Handler<K>, context?: unknown): void {
    this.emitter.on(name, fn as (...args: unknown[]) => void, context);
    this.changed();
  }

  /** Unsubscribes `fn` from `name`. */
  off<K extends EventName>(name: K, fn: Handler<K>, context?: unknown): void {
    this.emitter.off(name, fn as (...args: unknown[]) => void, context);
    this.changed();
  }

  /** Emits `ev` to the listeners of `name`, in subscription order. */
  emit<K extends EventName>(name: K, ev: HostEvents[K]): void {
    this.emitter.emit(name, ev);
  }

  /** True when `name` has at least one listener. */
  has(name: string): boolean {
    return this.emitter.listenerCount(name) > 0;
  }

  /** Calls `fn` whenever a subscription is added or removed. */
  onChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.changeListeners) fn();
  }
}
