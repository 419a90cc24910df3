/** Element types a tensor can hold. bfloat16/float16 are storage types of the CUDA backend. */
export type DType = 'float32' | 'bfloat16' | 'float16' | 'int32' | 'uint8';

export type HostArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float32':
    case 'int32':
      return 4;
    case 'bfloat16':
    case 'float16':
      return 2;
    case 'uint8':
      return 1;
  }
}

/** Host array type that holds `dtype` exactly (half types as their raw 16-bit patterns). */
export function allocHost(dtype: DType, length: number): HostArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'uint8':
      return new Uint8Array(length);
    case 'bfloat16':
    case 'float16':
      return new Uint16Array(length);
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'bfloat16' || dtype === 'float16';
}
