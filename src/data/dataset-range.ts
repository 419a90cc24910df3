import { checkIndex, type Dataset, type Indices } from './dataset.js';

/** Images start .. start + length - 1 of a dataset, as a dataset of their own (a held-out split). */
export class DatasetRange implements Dataset {
  readonly name: string;
  readonly imageShape: Dataset['imageShape'];
  readonly classNames?: readonly string[];
  readonly getLabels?: (indices: Indices) => Int32Array;

  constructor(private readonly source: Dataset, private readonly start: number, readonly length: number) {
    if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 1 || start + length > source.length) {
      throw new RangeError(`images ${start} .. ${start + length - 1} are not all in ${source.name} (${source.length} images)`);
    }
    this.name = `${source.name} [${start}, ${start + length})`;
    this.imageShape = source.imageShape;
    this.classNames = source.classNames;
    const labels = source.getLabels;
    if (labels) this.getLabels = (indices) => labels.call(source, this.map(indices));
  }

  getBatch(indices: Indices): Uint8Array {
    return this.source.getBatch(this.map(indices));
  }

  private map(indices: Indices): Int32Array {
    return Int32Array.from(indices, (i) => {
      checkIndex(this, i);
      return this.start + i;
    });
  }
}
