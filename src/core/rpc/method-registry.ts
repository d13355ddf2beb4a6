import { toDisposable, type Disposable } from '../lifecycle.js';
import type { EventDefinition, MethodDefinition, OperationDefinition } from './method.js';

const METHOD_NAME = /^[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)+$/;

/** The single list of methods and events; transports and docs read from it. */
export class MethodRegistry {
  private readonly methods = new Map<string, MethodDefinition>();
  private readonly events = new Map<string, EventDefinition>();
  private readonly operations = new Map<string, OperationDefinition>();

  register(...defs: MethodDefinition<any, any>[]): Disposable {
    for (const def of defs) {
      if (!METHOD_NAME.test(def.name)) throw new Error(`Invalid method name '${def.name}'`);
      if (this.methods.has(def.name)) throw new Error(`Method '${def.name}' is already registered`);
    }
    for (const def of defs) this.methods.set(def.name, def);
    return toDisposable(() => {
      for (const def of defs) if (this.methods.get(def.name) === def) this.methods.delete(def.name);
    });
  }

  registerEvents(...defs: EventDefinition<any>[]): Disposable {
    for (const def of defs) {
      if (this.events.has(def.topic)) throw new Error(`Event '${def.topic}' is already declared`);
    }
    for (const def of defs) this.events.set(def.topic, def);
    return toDisposable(() => {
      for (const def of defs) if (this.events.get(def.topic) === def) this.events.delete(def.topic);
    });
  }

  /** Operations (REST, streams) run by `Dispatcher.run`; not JSON-RPC methods. */
  registerOperations(...defs: OperationDefinition<any, any>[]): Disposable {
    for (const def of defs) {
      if (!METHOD_NAME.test(def.name)) throw new Error(`Invalid operation name '${def.name}'`);
      if (this.operations.has(def.name)) throw new Error(`Operation '${def.name}' is already registered`);
    }
    for (const def of defs) this.operations.set(def.name, def);
    return toDisposable(() => {
      for (const def of defs) if (this.operations.get(def.name) === def) this.operations.delete(def.name);
    });
  }

  getOperation(name: string): OperationDefinition | undefined {
    return this.operations.get(name);
  }

  get(name: string): MethodDefinition | undefined {
    return this.methods.get(name);
  }

  list(): MethodDefinition[] {
    return [...this.methods.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  listEvents(): EventDefinition[] {
    return [...this.events.values()].sort((a, b) => a.topic.localeCompare(b.topic));
  }
}
