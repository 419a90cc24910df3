export { type ChartLabels, type LinePlot, type Marker, type Rgb, type Series, PALETTE, PlotArea, dataRange, formatTick, niceTicks } from './chart.js';
export { Raster } from './raster.js';
export { heatmapPng, linePng } from './png-plots.js';
export { lineSvg } from './svg-plots.js';
export { algorithm1Plot, clusterPlot, similarityPlot, snrPlot } from './cluster-plots.js';
export { type RaceAxis, type RacePoint, raceCurvesPng } from './race-plots.js';
