// A wearer on the map: safe zones, the path with a marker the time slider moves, the live position,
// and a missing-person report's last fix and search area rings (labelled with share and radius).
// The path, cursor, live dot and fitting are trackmap.js's (shared with the shipment page); a guardian,
// who may not read the city's own map, gets the same layers on the plain background, fitted to the wearer.
import { h } from './common.js';
import { M_PER_DEG, TrackMap, circleRing, distanceText, point, polygon } from './trackmap.js';

export { circleRing, distanceText };

const SOURCES = ['w-zones', 'w-rings', 'w-path', 'w-points'];

function layers() {
  return [
    { id: 'w-zone-fill', type: 'fill', source: 'w-zones', paint: { 'fill-color': '#16a34a', 'fill-opacity': 0.12 } },
    { id: 'w-zone-line', type: 'line', source: 'w-zones', paint: { 'line-color': '#15803d', 'line-width': 2 } },
    // Widest ring first, so the inner (likelier) rings read darker where they overlap.
    { id: 'w-ring-fill', type: 'fill', source: 'w-rings', paint: { 'fill-color': '#dc2626', 'fill-opacity': 0.08 } },
    { id: 'w-ring-line', type: 'line', source: 'w-rings',
      paint: { 'line-color': '#b91c1c', 'line-width': 1.6, 'line-dasharray': [3, 2] } },
    { id: 'w-path-line', type: 'line', source: 'w-path', layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#c2410c', 'line-width': 3.5, 'line-opacity': 0.85 } },
    { id: 'w-points', type: 'circle', source: 'w-points',
      // The last fix is a red ring, so that the live position (often the same place) shows inside it.
      paint: {
        'circle-radius': ['match', ['get', 'kind'], 'last_fix', 13, 7],
        'circle-color': ['match', ['get', 'kind'], 'last_fix', 'rgba(0,0,0,0)', 'found', '#15803d', '#1d4ed8'],
        'circle-stroke-color': ['match', ['get', 'kind'], 'last_fix', '#b91c1c', '#ffffff'],
        'circle-stroke-width': ['match', ['get', 'kind'], 'last_fix', 3, 2],
      } },
  ];
}

/** The wearer's layers on a CityMap; every drawing also says what it drew on the map element (tests, a11y). */
export class WearerMap extends TrackMap {
  constructor(cityMap) {
    super(cityMap, { sources: SOURCES, layers: layers(), pathSource: 'w-path' });
    this.ringLabels = [];
    this.points = new Map(); // kind -> feature (last fix, found)
    this.areaRing = [];
  }

  zones(zones) {
    const features = zones.map((z) => (z.shape === 'circle'
      ? polygon(circleRing(z.lon, z.lat, z.radius_m), { name: z.name })
      : polygon(z.ring, { name: z.name })));
    this.map.getSource('w-zones').setData({ type: 'FeatureCollection', features });
    this.element.dataset.zones = String(features.length);
    this.extend(features.flatMap((f) => f.geometry.coordinates[0]));
  }

  setPoint(kind, fix) {
    if (fix) this.points.set(kind, point(fix.lon, fix.lat, { kind }));
    else this.points.delete(kind);
    this.map.getSource('w-points').setData({ type: 'FeatureCollection', features: [...this.points.values()] });
    const key = kind === 'last_fix' ? 'lastFix' : kind;
    if (fix) this.element.dataset[key] = fix.lat.toFixed(6) + ',' + fix.lon.toFixed(6);
    else delete this.element.dataset[key];
  }

  /** A report's search area: one ring per share, labelled on its northern edge; null clears it. */
  searchArea(area) {
    for (const label of this.ringLabels) label.remove();
    this.ringLabels = [];
    const rings = area ? [...area.rings].sort((a, b) => b.radius_m - a.radius_m) : [];
    const features = rings.map((r) => polygon(circleRing(area.lon, area.lat, r.radius_m),
      { share: r.share, radius_m: r.radius_m }));
    this.map.getSource('w-rings').setData({ type: 'FeatureCollection', features });
    // Rings cut to the same reach coincide: one label says all their shares ("75% / 95% · 1.7 km").
    const byRadius = new Map();
    for (const r of rings) byRadius.set(r.radius_m, [...(byRadius.get(r.radius_m) || []), Math.round(r.share * 100) + '%']);
    for (const [radius, shares] of byRadius) {
      const el = h('div', { class: 'ring-label' }, shares.sort((a, b) => parseInt(a, 10) - parseInt(b, 10)).join(' / ')
        + ' · ' + distanceText(radius));
      const edge = [area.lon, area.lat + radius / M_PER_DEG];
      this.ringLabels.push(new window.maplibregl.Marker({ element: el, anchor: 'bottom' }).setLngLat(edge).addTo(this.map));
    }
    this.element.dataset.rings = rings.map((r) => Math.round(r.share * 100) + ':' + r.radius_m).join(' ');
    this.areaRing = features.length ? features[0].geometry.coordinates[0] : [];
    if (features.length) this.fit();
  }

  /** The widest search ring counts when fitting. */
  extraExtent() {
    return this.areaRing;
  }
}
