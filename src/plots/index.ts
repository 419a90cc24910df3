export * from './chart.js';
export * from './raster.js';
export * from './png-plots.js';
export * from './svg-plots.js';
export * from './cluster-plots.js';
