// A shipment of dangerous goods on the map: the planned route (a dashed blue line), restricted zones
// (red) and permitted stop places (green, dashed edge), the vehicle's path with the time slider's
// marker and its live position (trackmap.js), and one warning's evidence highlighted: its fixes in
// magenta and, for a restricted-zone entry, the zone it entered outlined.
import { M_PER_DEG, TrackMap, circleRing, point, polygon } from './trackmap.js';

export const STATUS_LABEL = {
  planned: 'Planned 计划', loaded: 'Loaded 已装车', in_transit: 'In transit 运输中', delivered: 'Delivered 已送达',
  closed: 'Closed 已关闭',
};
const SOURCES = ['s-zones', 's-route', 's-path', 's-evidence'];
const RESTRICTED = '#dc2626';
const STOP = '#15803d';
const ROUTE = '#2563eb';
const EVIDENCE = '#c026d3';
const NONE = ['==', ['get', 'id'], -1];

function layers() {
  const byKind = (restricted, stop) => ['match', ['get', 'kind'], 'restricted', restricted, stop];
  return [
    { id: 's-zone-fill', type: 'fill', source: 's-zones',
      paint: { 'fill-color': byKind(RESTRICTED, STOP), 'fill-opacity': byKind(0.18, 0.14) } },
    { id: 's-zone-line', type: 'line', source: 's-zones', filter: ['==', ['get', 'kind'], 'restricted'],
      paint: { 'line-color': RESTRICTED, 'line-width': 2 } },
    { id: 's-stop-line', type: 'line', source: 's-zones', filter: ['==', ['get', 'kind'], 'permitted_stop'],
      paint: { 'line-color': STOP, 'line-width': 2, 'line-dasharray': [2, 1.5] } },
    { id: 's-zone-highlight', type: 'line', source: 's-zones', filter: NONE,
      paint: { 'line-color': EVIDENCE, 'line-width': 4 } },
    { id: 's-route-line', type: 'line', source: 's-route', layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': ROUTE, 'line-width': 4, 'line-opacity': 0.7, 'line-dasharray': [2, 1] } },
    { id: 's-path-line', type: 'line', source: 's-path', layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#c2410c', 'line-width': 3.5, 'line-opacity': 0.9 } },
    { id: 's-evidence-line', type: 'line', source: 's-evidence', filter: ['==', ['geometry-type'], 'LineString'],
      paint: { 'line-color': EVIDENCE, 'line-width': 6, 'line-opacity': 0.55 } },
    { id: 's-evidence-points', type: 'circle', source: 's-evidence', filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 6, 'circle-color': EVIDENCE, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } },
  ];
}

const NEAR_M = 1000;

/** [[west, south], [east, north]] of [lon, lat] points, or null for none. */
function boxOf(coords) {
  if (!coords.length) return null;
  let west = Infinity, south = Infinity, east = -Infinity, north = -Infinity;
  for (const [lon, lat] of coords) {
    west = Math.min(west, lon); east = Math.max(east, lon); south = Math.min(south, lat); north = Math.max(north, lat);
  }
  return [[west, south], [east, north]];
}

function grow([[west, south], [east, north]], metres) {
  const dLat = metres / M_PER_DEG;
  const dLon = metres / (M_PER_DEG * Math.cos((((south + north) / 2) * Math.PI) / 180));
  return [[west - dLon, south - dLat], [east + dLon, north + dLat]];
}

const overlaps = (a, b) => Boolean(b) && a[0][0] <= b[1][0] && b[0][0] <= a[1][0] && a[0][1] <= b[1][1] && b[0][1] <= a[1][1];

/** A zone as the API answers it (GeoJSON Polygon, or a Circle with centre and radius) as a feature. */
function zoneFeature(zone) {
  const g = zone.geometry;
  const ring = g.type === 'Circle' ? circleRing(g.center[0], g.center[1], g.radius_m) : g.coordinates[0];
  return polygon(ring, { id: zone.id, kind: zone.kind, name: zone.name, category: zone.category });
}

export class ShipmentMap extends TrackMap {
  constructor(cityMap) {
    super(cityMap, { sources: SOURCES, layers: layers(), pathSource: 's-path' });
    this.evidenceCoords = [];
    this.zoneFeatures = [];
    this.routeBox = null;
  }

  route(geometry) {
    const coords = (geometry && geometry.coordinates) || [];
    const features = coords.length > 1 ? [{ type: 'Feature', geometry, properties: {} }] : [];
    this.map.getSource('s-route').setData({ type: 'FeatureCollection', features });
    this.element.dataset.routePoints = String(coords.length);
    this.extend(coords);
    this.routeBox = boxOf(coords);
  }

  zones(zones) {
    const features = zones.map(zoneFeature);
    this.zoneFeatures = features;
    // The zones by the route count when fitting the map (those of the areas far from it do not).
    const near = this.routeBox && grow(this.routeBox, NEAR_M);
    for (const f of features) {
      const ring = f.geometry.coordinates[0];
      if (near && overlaps(near, boxOf(ring))) this.extend(ring);
    }
    this.map.getSource('s-zones').setData({ type: 'FeatureCollection', features });
    this.element.dataset.restricted = String(zones.filter((z) => z.kind === 'restricted').length);
    this.element.dataset.stops = String(zones.filter((z) => z.kind === 'permitted_stop').length);
  }

  /** One warning's evidence (fixes with a place) and the zone it names; null clears it. Fits to it. */
  highlight(alertId, evidence, zoneId) {
    const located = (evidence || []).filter((e) => e.lat !== null && e.lon !== null);
    const coords = located.map((e) => [e.lon, e.lat]);
    const features = located.map((e, i) => point(e.lon, e.lat, { n: i + 1, ts: e.ts }));
    if (coords.length > 1) features.unshift({ type: 'Feature', geometry: { type: 'LineString', coordinates: coords }, properties: {} });
    this.map.getSource('s-evidence').setData({ type: 'FeatureCollection', features });
    this.map.setFilter('s-zone-highlight', zoneId === null || zoneId === undefined ? NONE : ['==', ['get', 'id'], zoneId]);
    const el = this.element.dataset;
    if (alertId) {
      el.highlight = alertId;
      el.evidencePoints = String(coords.length);
      if (zoneId !== null && zoneId !== undefined) el.highlightZone = String(zoneId);
      else delete el.highlightZone;
    } else {
      delete el.highlight;
      delete el.highlightZone;
      el.evidencePoints = '0';
    }
    this.evidenceCoords = coords;
    // Fit to where it happened: the fixes and the zone entered (so the zone's edge shows too).
    const zone = zoneId === null || zoneId === undefined ? null
      : this.zoneFeatures.find((f) => f.properties.id === zoneId);
    const around = boxOf([...coords, ...(zone ? zone.geometry.coordinates[0] : [])]);
    if (around) {
      this.moved = true; // the person asked for this view: a resize keeps it
      this.map.fitBounds(around, { padding: 60, maxZoom: 15, animate: false });
    } else if (!alertId) {
      this.moved = false; // back to the whole shipment
      this.fit();
    }
  }
}
