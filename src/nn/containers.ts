import { Module } from './module.js';

/** Named children in insertion order, like torch.nn.ModuleDict: the names become state dict path segments. */
export class ModuleDict<M extends Module = Module> extends Module {
  private readonly items = new Map<string, M>();

  set(name: string, module: M): M {
    this.items.set(name, this.registerModule(name, module));
    return module;
  }

  get(name: string): M {
    const m = this.items.get(name);
    if (!m) throw new Error(`${this.constructor.name} has no module "${name}"`);
    return m;
  }

  entries(): [string, M][] {
    return [...this.items];
  }
}

/** Children named 0, 1, 2, ... like torch.nn.ModuleList. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  push(module: M): M {
    this.items.push(this.registerModule(String(this.items.length), module));
    return module;
  }

  at(index: number): M {
    const m = this.items[index];
    if (!m) throw new Error(`${this.constructor.name} has no module ${index} (it has ${this.items.length})`);
    return m;
  }

  get length(): number {
    return this.items.length;
  }
}
