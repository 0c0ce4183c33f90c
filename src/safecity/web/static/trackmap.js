// A tracked thing on the city map, shared by the wearer and the shipment pages: its path, a marker the
// time slider moves, the live position, and fitting the map to what was drawn. Drawn over the
// console's city map (citymap.js); each page adds its own sources and layers through the constructor.
import { h } from './common.js';

export const EMPTY = { type: 'FeatureCollection', features: [] };
export const M_PER_DEG = 111320;

/** A circle as a closed ring of [lon, lat] points (fine for the few kilometres a zone or search spans). */
export function circleRing(lon, lat, radiusM, steps = 72) {
  const ring = [];
  const perLon = M_PER_DEG * Math.cos((lat * Math.PI) / 180);
  for (let i = 0; i <= steps; i += 1) {
    const a = (2 * Math.PI * (i % steps)) / steps;
    ring.push([lon + (radiusM * Math.sin(a)) / perLon, lat + (radiusM * Math.cos(a)) / M_PER_DEG]);
  }
  return ring;
}

/** "800 m", "2 km", "1.4 km". */
export function distanceText(m) {
  if (m < 1000) return Math.round(m) + ' m';
  const km = m / 1000;
  return (km >= 10 || Number.isInteger(km) ? Math.round(km) : km.toFixed(1)) + ' km';
}

export const polygon = (ring, props) => ({ type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: props });
export const point = (lon, lat, props) => ({ type: 'Feature', geometry: { type: 'Point', coordinates: [lon, lat] }, properties: props });

/** Path, cursor, live position and fitting on a CityMap; every drawing also says what it drew on the
 * map element (tests, a11y). `sources` are added empty and `layers` over them once the map loads. */
export class TrackMap {
  constructor(cityMap, { sources, layers, pathSource }) {
    this.cityMap = cityMap;
    this.map = cityMap.map;
    this.element = cityMap.element;
    this.pathSource = pathSource;
    this.live = null;
    this.cursor = null;
    this.extent = null;
    // A window resized (a phone turned) fits the map again, unless the person moved it themselves.
    this.moved = false;
    this.map.on('dragstart', () => { this.moved = true; });
    this.map.on('zoomstart', (event) => { if (event.originalEvent) this.moved = true; });
    this.map.on('resize', () => { if (!this.moved) this.fit(); });
    this.ready = cityMap.ready.then(() => {
      for (const id of sources) this.map.addSource(id, { type: 'geojson', data: EMPTY });
      for (const layer of layers) this.map.addLayer(layer);
    });
  }

  path(fixes) {
    const coords = fixes.map((f) => [f.lon, f.lat]);
    const features = coords.length > 1
      ? [{ type: 'Feature', geometry: { type: 'LineString', coordinates: coords }, properties: {} }]
      : [];
    this.map.getSource(this.pathSource).setData({ type: 'FeatureCollection', features });
    this.element.dataset.pathPoints = String(coords.length);
    this.extend(coords);
  }

  /** The latest position: a pulsing dot. */
  livePosition(fix) {
    if (!fix) return;
    if (!this.live) {
      const el = h('div', { class: 'live-dot', title: 'Live position 实时位置', 'aria-hidden': 'true' });
      this.live = new window.maplibregl.Marker({ element: el }).setLngLat([fix.lon, fix.lat]).addTo(this.map);
    } else this.live.setLngLat([fix.lon, fix.lat]);
    this.element.dataset.live = fix.lat.toFixed(6) + ',' + fix.lon.toFixed(6);
  }

  /** Where the time slider stands on the path. */
  moveCursor(fix) {
    if (!fix) return;
    if (!this.cursor) {
      const el = h('div', { class: 'cursor-dot', title: 'Slider position', 'aria-hidden': 'true' });
      this.cursor = new window.maplibregl.Marker({ element: el }).setLngLat([fix.lon, fix.lat]).addTo(this.map);
    } else this.cursor.setLngLat([fix.lon, fix.lat]);
    this.element.dataset.cursor = fix.lat.toFixed(6) + ',' + fix.lon.toFixed(6);
  }

  extend(coords) {
    for (const [lon, lat] of coords) {
      if (!this.extent) this.extent = [[lon, lat], [lon, lat]];
      const [sw, ne] = this.extent;
      sw[0] = Math.min(sw[0], lon); sw[1] = Math.min(sw[1], lat);
      ne[0] = Math.max(ne[0], lon); ne[1] = Math.max(ne[1], lat);
    }
  }

  /** Coordinates that count when fitting but are not kept in the extent (a page's passing drawing). */
  extraExtent() {
    return [];
  }

  /** Fit the map to what was drawn. */
  fit() {
    const saved = this.extent && this.extent.map((c) => [...c]);
    this.extend(this.extraExtent());
    const bounds = this.extent;
    this.extent = saved;
    if (!bounds) return;
    // 48 px around on a desk, less on a phone's narrow map, where it would be a third of the width.
    const padding = Math.max(16, Math.min(48, Math.round(this.element.clientWidth / 14)));
    this.map.fitBounds(bounds, { padding, maxZoom: 16, animate: false });
  }
}
