// The console map: the city's own GeoJSON on a plain style (no tiles, no glyphs), alert paths and flashes.

import { api, h } from './common.js';

const WORKER_URL = '/static/vendor/maplibre-gl-csp-worker.js';
const EMPTY = { type: 'FeatureCollection', features: [] };
const PATH_COLOUR = '#c2410c';
const byLayer = (name) => ['==', ['get', 'layer'], name];

// Drawn bottom to top. Text labels would need a glyph server, so names appear in hover popups instead.
function cityStyle() {
  return {
    version: 8,
    sources: {
      city: { type: 'geojson', data: EMPTY },
      path: { type: 'geojson', data: EMPTY },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#e9edf1' } },
      { id: 'district-fill', type: 'fill', source: 'city', filter: byLayer('district'),
        paint: { 'fill-color': '#dde3ea', 'fill-opacity': 0.9 } },
      { id: 'community-fill', type: 'fill', source: 'city', filter: byLayer('community'),
        paint: { 'fill-color': '#f8f9fb', 'fill-opacity': 0.9 } },
      { id: 'community-line', type: 'line', source: 'city', filter: byLayer('community'),
        paint: { 'line-color': '#cfd6de', 'line-width': 0.6 } },
      // Minor roads are hairlines until zoomed in; major roads are white with a casing, as on paper maps.
      { id: 'road-minor', type: 'line', source: 'city', filter: ['all', byLayer('road'), ['!=', ['get', 'road_class'], 'major']],
        paint: { 'line-color': '#d5dbe2', 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 0.5, 15, 3] } },
      { id: 'road-casing', type: 'line', source: 'city', filter: ['all', byLayer('road'), ['==', ['get', 'road_class'], 'major']],
        layout: { 'line-cap': 'round' },
        paint: { 'line-color': '#b3bdc8', 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 3, 15, 8] } },
      { id: 'road', type: 'line', source: 'city', filter: ['all', byLayer('road'), ['==', ['get', 'road_class'], 'major']],
        layout: { 'line-cap': 'round' },
        paint: { 'line-color': '#ffffff', 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 1.8, 15, 6] } },
      // The canal over the streets it cuts; its bridges drawn over it as the arterials they carry.
      { id: 'water', type: 'fill', source: 'city', filter: byLayer('water'), paint: { 'fill-color': '#9cc3e4' } },
      { id: 'bridge-casing', type: 'line', source: 'city', filter: byLayer('bridge'),
        paint: { 'line-color': '#8b96a3', 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 3.5, 15, 9] } },
      { id: 'bridge', type: 'line', source: 'city', filter: byLayer('bridge'),
        paint: { 'line-color': '#ffffff', 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 1.8, 15, 6] } },
      { id: 'station-area-line', type: 'line', source: 'city', filter: byLayer('station_area'),
        paint: { 'line-color': '#8797aa', 'line-width': 1.2, 'line-dasharray': [3, 2] } },
      { id: 'district-line', type: 'line', source: 'city', filter: byLayer('district'),
        paint: { 'line-color': '#55677c', 'line-width': 2 } },
      { id: 'base-station', type: 'circle', source: 'city', filter: byLayer('base_station'),
        paint: {
          'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, 1.5, 13, 3, 16, 5],
          'circle-color': '#5b6b7f', 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 0.8,
        } },
      { id: 'police-station', type: 'symbol', source: 'city', filter: byLayer('police_station'),
        layout: { 'icon-image': 'police', 'icon-allow-overlap': true, 'icon-ignore-placement': true } },
      { id: 'path-line', type: 'line', source: 'path', filter: ['==', ['geometry-type'], 'LineString'],
        layout: { 'line-cap': 'round', 'line-join': 'round' },
        paint: { 'line-color': PATH_COLOUR, 'line-width': 4, 'line-opacity': 0.85 } },
      { id: 'path-points', type: 'circle', source: 'path', filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 6, 'circle-color': PATH_COLOUR, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } },
    ],
  };
}

// A police station marker drawn on a canvas: a blue badge with a white shield (no sprite file needed).
function policeIcon() {
  const size = 44;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#1e3a8a';
  ctx.strokeStyle = '#ffffff';
  ctx.lineWidth = 4;
  ctx.beginPath();
  ctx.roundRect(4, 4, size - 8, size - 8, 8);
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#ffffff';
  ctx.beginPath();
  ctx.moveTo(22, 11);
  ctx.lineTo(32, 15);
  ctx.quadraticCurveTo(32, 28, 22, 34);
  ctx.quadraticCurveTo(12, 28, 12, 15);
  ctx.closePath();
  ctx.fill();
  return ctx.getImageData(0, 0, size, size);
}

const LAYER_LABELS = { police_station: 'Police station', base_station: 'Base station', community: 'Community' };

/** Bounds [[west, south], [east, north]] of every coordinate in a GeoJSON object. */
function boundsOf(geojson) {
  let west = Infinity, south = Infinity, east = -Infinity, north = -Infinity;
  const visit = (coords) => {
    if (typeof coords[0] === 'number') {
      west = Math.min(west, coords[0]); east = Math.max(east, coords[0]);
      south = Math.min(south, coords[1]); north = Math.max(north, coords[1]);
    } else coords.forEach(visit);
  };
  for (const f of geojson.features || [geojson]) if (f.geometry) visit(f.geometry.coordinates);
  return west === Infinity ? null : [[west, south], [east, north]];
}

/** The map of the console. `CityMap.create` answers null, after saying why, when no map can be drawn. */
export class CityMap {
  constructor(map, element, message) {
    this.map = map;
    this.element = element;
    this.message = message;
    this.names = new Map(); // feature id -> name, for devices, stations and communities
    this.markers = [];
    this.ready = new Promise((resolve) => map.on('load', resolve));
  }

  static create(element, message) {
    const say = (text) => { message.textContent = text; message.hidden = false; };
    if (!window.maplibregl) {
      element.dataset.state = 'unavailable';
      say('The map library is missing: run `make assets` on the server and reload.');
      return null;
    }
    window.maplibregl.setWorkerUrl(WORKER_URL);
    let map;
    try {
      map = new window.maplibregl.Map({
        container: element, style: cityStyle(), center: [120.67, 28.0], zoom: 11,
        attributionControl: false, dragRotate: false, pitchWithRotate: false,
      });
    } catch (err) {
      element.dataset.state = 'unavailable';
      say('This browser cannot draw the map (WebGL is unavailable): ' + err.message);
      return null;
    }
    map.touchZoomRotate.disableRotation();
    map.addControl(new window.maplibregl.NavigationControl({ showCompass: false }), 'top-right');
    map.addControl(new window.maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');
    window.safecityMap = map; // for tests and for the curious at the console
    const cityMap = new CityMap(map, element, message);
    cityMap.installHover();
    return cityMap;
  }

  /** Fetch the city and draw it; says so plainly when there is no city yet. */
  async loadCity() {
    let city;
    try {
      [city] = await Promise.all([api('GET', '/api/v1/city.geojson'), this.ready]);
    } catch (err) {
      this.element.dataset.state = err.status === 404 ? 'no-city' : 'error';
      this.message.textContent = err.status === 404
        ? 'No city map yet: ' + err.message + '. Alerts still arrive; the map appears once a city is generated.'
        : 'The city map could not be loaded: ' + err.message;
      this.message.hidden = false;
      return;
    }
    if (!this.map.hasImage('police')) this.map.addImage('police', policeIcon(), { pixelRatio: 2 });
    const features = (city.features || []).filter((f) => f && f.geometry && f.properties);
    const layers = new Set();
    for (const f of features) {
      layers.add(f.properties.layer);
      if (f.properties.id && f.properties.name) this.names.set(String(f.properties.id), f.properties.name);
    }
    this.map.getSource('city').setData({ type: 'FeatureCollection', features });
    const bounds = Array.isArray(city.bbox) && city.bbox.length === 4
      ? [[city.bbox[0], city.bbox[1]], [city.bbox[2], city.bbox[3]]]
      : boundsOf({ features });
    if (bounds) this.map.fitBounds(bounds, { padding: 24, animate: false });
    this.element.dataset.layers = [...layers].filter(Boolean).sort().join(' ');
    this.element.dataset.features = String(features.length);
    this.element.dataset.state = 'ready';
    if (!features.length) {
      this.message.textContent = 'The city map is empty.';
      this.message.hidden = false;
    }
  }

  installHover() {
    const popup = new window.maplibregl.Popup({ closeButton: false, closeOnClick: false, offset: 8, className: 'map-tip' });
    const layers = ['police-station', 'base-station', 'community-fill'];
    this.map.on('mousemove', (e) => {
      if (!this.map.getLayer('police-station')) return;
      const [hit] = this.map.queryRenderedFeatures(e.point, { layers });
      if (!hit || (hit.properties.layer === 'community' && this.map.getZoom() < 12)) {
        popup.remove();
        this.map.getCanvas().classList.remove('pointer');
        return;
      }
      const p = hit.properties;
      this.map.getCanvas().classList.toggle('pointer', p.layer !== 'community');
      popup.setLngLat(e.lngLat)
        .setDOMContent(h('div', null, h('strong', null, p.name || p.id), h('br'),
          (LAYER_LABELS[p.layer] || p.layer) + (p.id ? ' · ' + p.id : '')))
        .addTo(this.map);
    });
    this.map.on('mouseout', () => popup.remove());
  }

  /** Draw an alert's path (GeoJSON Feature in time order) with numbered points, and fit the map to it. */
  showPath(path) {
    this.clearPath();
    const geometry = path && path.geometry;
    if (!geometry) return 0;
    const coords = geometry.type === 'LineString' ? geometry.coordinates : [geometry.coordinates];
    const features = coords.map((c, i) => ({
      type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: { n: i + 1 },
    }));
    if (geometry.type === 'LineString') features.unshift({ type: 'Feature', geometry, properties: {} });
    this.map.getSource('path').setData({ type: 'FeatureCollection', features });
    const times = (path.properties && path.properties.times) || [];
    coords.forEach((c, i) => {
      const el = h('div', { class: 'path-num', title: times[i] ? new Date(times[i]).toLocaleString() : null }, String(i + 1));
      this.markers.push(new window.maplibregl.Marker({ element: el }).setLngLat(c).addTo(this.map));
    });
    const bounds = boundsOf({ features });
    if (bounds) this.map.fitBounds(bounds, { padding: 80, maxZoom: 16, duration: 400 });
    this.element.dataset.pathPoints = String(coords.length);
    return coords.length;
  }

  clearPath() {
    for (const marker of this.markers) marker.remove();
    this.markers = [];
    const source = this.map.getSource('path');
    if (source) source.setData(EMPTY);
    this.element.dataset.pathPoints = '0';
  }

  /** Pulse a ring where a new alert happened, without moving the map. */
  flash(lngLat) {
    const el = h('div', { class: 'flash', 'aria-hidden': 'true' });
    const marker = new window.maplibregl.Marker({ element: el }).setLngLat(lngLat).addTo(this.map);
    window.setTimeout(() => marker.remove(), 4000);
  }
}
