/**
 * The few pieces of the WebAssembly binary format the CPU backend's SIMD modules are written in (no
 * toolchain, no binary file: each module is assembled from its instructions when first loaded).
 */

/** The little of the WebAssembly JavaScript API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
export const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
export const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
export const name = (s: string): number[] => vec([...s].map((ch) => [ch.charCodeAt(0)]));
export const get = (i: number): number[] => [0x20, i];
export const set = (i: number): number[] => [0x21, i];
export const tee = (i: number): number[] => [0x22, i];
/** Signed LEB128 of 0 <= v < 8192. */
export const i32Const = (v: number): number[] => [0x41, ...(v < 64 ? [v] : [0x80 | (v & 0x7f), v >> 7])];
export const simd = (op: number, ...immediates: number[]): number[] => [0xfd, ...uleb(op), ...immediates];
/** A load's or store's immediates: alignment hint 4 bytes, then the offset. */
export const memarg = (offset: number): number[] => [2, ...uleb(offset)];
export const [I32_LOAD, I32_EQZ, I32_ADD, I32_SUB, BLOCK, LOOP, BR_IF, END, VOID] = [0x28, 0x45, 0x6a, 0x6b, 0x02, 0x03, 0x0d, 0x0b, 0x40];
export const [I32, F64, V128] = [0x7f, 0x7c, 0x7b];

/**
 * `body` run `counter` times (a local, counted down to 0 by the loop; zero runs it not at all): the loop
 * every SIMD function here is built around.
 */
export function countedLoop(counter: number, body: readonly number[]): number[] {
  return [BLOCK, VOID, ...get(counter), I32_EQZ, BR_IF, 0, LOOP, VOID, ...body, ...get(counter), ...i32Const(1), I32_SUB, ...tee(counter), BR_IF, 0, END, END];
}

/** A function body: its locals (count of each type, in order) and its code, ending with END. */
export function functionBody(locals: [count: number, type: number][], code: number[]): number[] {
  const bytes = [...vec(locals.map(([count, type]) => [...uleb(count), type])), ...code];
  return [...uleb(bytes.length), ...bytes];
}

/**
 * Instantiates a module of functions, importing its memory as env.memory (at least one page): `functions`
 * gives each its name, its parameters (a count of i32s, or their types), its result types (none unless
 * given) and its body (see functionBody). Null where the runtime has no WebAssembly SIMD.
 */
export function instantiate(functions: readonly { name: string; params: number | number[]; results?: number[]; body: number[] }[]): { exports: Record<string, unknown>; memory: WasmMemory } | null {
  try {
    const types = (list: number[]): number[] => vec(list.map((t) => [t]));
    const signature = (params: number | number[], results: number[] = []): number[] => [0x60, ...types(typeof params === 'number' ? new Array<number>(params).fill(I32) : params), ...types(results)];
    const bytes = new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      ...section(1, vec(functions.map((f) => signature(f.params, f.results)))), // type i: function i's (params) -> (results)
      ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])), // import memory, at least 1 page
      ...section(3, vec(functions.map((_, i) => uleb(i)))), // function i has type i
      ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
      ...section(10, vec(functions.map((f) => f.body))),
    ]);
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return { exports, memory };
  } catch {
    return null;
  }
}
