/**
 * A kernel argument passed by value as a C struct, defined once: the struct's text for the kernel source
 * and the packing of its bytes on the host both come from the same field list, so they cannot drift apart.
 * Fields are laid out as the C compiler does (each at a multiple of its size); padding that the C text
 * shows is written as a field of its own (never set, so zero).
 */

/** C types of struct fields: `i64` is the kernels' typedef of long long. */
export type FieldType = 'int' | 'float' | 'i64';

export interface StructField {
  name: string;
  type: FieldType;
  /** Array length; absent for a scalar. */
  length?: number;
}

const SIZE: Record<FieldType, number> = { int: 4, float: 4, i64: 8 };

export class KernelStruct {
  /** Size in bytes, as sizeof() in the kernel. */
  readonly bytes: number;
  private readonly offsets = new Map<string, { offset: number; field: StructField }>();

  constructor(
    readonly name: string,
    readonly fields: readonly StructField[],
  ) {
    let offset = 0;
    let align = 1;
    for (const field of fields) {
      const size = SIZE[field.type];
      offset = Math.ceil(offset / size) * size;
      this.offsets.set(field.name, { offset, field });
      offset += size * (field.length ?? 1);
      align = Math.max(align, size);
    }
    this.bytes = Math.ceil(offset / align) * align;
  }

  /** The C declaration, e.g. `struct Fir { float taps[8]; int k; };`. */
  cText(): string {
    const members = this.fields.map((f) => `${f.type} ${f.name}${f.length === undefined ? '' : `[${f.length}]`};`);
    return `struct ${this.name} { ${members.join(' ')} };`;
  }

  /** Byte offset of a field, as offsetof() in the kernel. */
  offsetOf(name: string): number {
    const entry = this.offsets.get(name);
    if (!entry) throw new Error(`struct ${this.name} has no field ${name}`);
    return entry.offset;
  }

  /** The struct's bytes (little-endian) with the given fields set; the rest are zero. Arrays may be shorter than their field. */
  pack(values: Readonly<Record<string, number | readonly number[]>>): Uint8Array {
    const out = new Uint8Array(this.bytes);
    this.write(new DataView(out.buffer), 0, values);
    return out;
  }

  /** The bytes of a C array of these structs, one per element of `records` (each as pack() writes it). */
  packArray(records: readonly Readonly<Record<string, number | readonly number[]>>[]): Uint8Array {
    const out = new Uint8Array(this.bytes * records.length);
    const view = new DataView(out.buffer);
    for (let i = 0; i < records.length; i++) this.write(view, i * this.bytes, records[i]);
    return out;
  }

  private write(view: DataView, base: number, values: Readonly<Record<string, number | readonly number[]>>): void {
    for (const [name, value] of Object.entries(values)) {
      const entry = this.offsets.get(name);
      if (!entry) throw new Error(`struct ${this.name} has no field ${name}`);
      const { offset, field } = entry;
      const items = typeof value === 'number' ? [value] : value;
      const capacity = field.length ?? 1;
      if (items.length > capacity || (field.length === undefined && typeof value !== 'number')) {
        throw new Error(`struct ${this.name}: field ${name} holds ${field.length === undefined ? 'one number' : `at most ${capacity} numbers`}, got ${JSON.stringify(value)}`);
      }
      const size = SIZE[field.type];
      // On every launch of the strided kernels: a plain loop, no closure per field.
      for (let i = 0, at = base + offset; i < items.length; i++, at += size) {
        if (field.type === 'int') view.setInt32(at, items[i], true);
        else if (field.type === 'float') view.setFloat32(at, items[i], true);
        else view.setBigInt64(at, BigInt(items[i]), true);
      }
    }
  }
}

/** The strided kernels' geometry: two ints (counts, or a count and its padding), then i64 arrays of `length` each. */
export function geometryStruct(name: string, ints: readonly [string, string], arrays: readonly string[], length: number): KernelStruct {
  return new KernelStruct(name, [...ints.map((n) => ({ name: n, type: 'int' as const })), ...arrays.map((n) => ({ name: n, type: 'i64' as const, length }))]);
}
