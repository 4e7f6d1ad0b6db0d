/* CityBrain city map: draws the hub's own NGSI-LD entities (GeoJSON) as SVG.
   No tiles, no CDN, no inline code: the page's data attributes carry the configuration. */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var WIDTH = 1000;
  var HEIGHT = 750;
  var PAD = 28;

  var root = document.getElementById("city-map");
  if (!root) {
    return;
  }
  var config = JSON.parse(root.getAttribute("data-config") || "{}");
  var types = (root.getAttribute("data-types") || "").split(/\s+/).filter(Boolean);
  var messages = config.messages || {};
  var english = (document.documentElement.lang || "").indexOf("en") === 0;

  var statusEl = root.querySelector(".citymap__status");
  var errorsEl = root.querySelector(".citymap__errors");
  var areasLayer = root.querySelector(".citymap__areas");
  var labelsLayer = root.querySelector(".citymap__labels");
  var markersLayer = root.querySelector(".citymap__markers");
  var popup = root.querySelector(".citymap__popup");

  function format(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function svg(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (parent) {
      parent.appendChild(node);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  /* The value of a normalized attribute ({"type": "Property", "value": ...}) or a plain one. */
  function valueOf(attr) {
    if (attr && typeof attr === "object" && !Array.isArray(attr) && "value" in attr) {
      return attr.value;
    }
    return attr;
  }

  function observedAt(props, attrName) {
    var attr = props[attrName];
    if (attr && typeof attr === "object" && attr.observedAt) {
      return attr.observedAt;
    }
    var observed = valueOf(props.dateObserved);
    return typeof observed === "string" ? observed : "";
  }

  function levelOf(scale, value) {
    if (typeof value !== "number" || !isFinite(value)) {
      return null;
    }
    if (value < scale.valid[0] || value > scale.valid[1]) {
      return null;
    }
    var level = 0;
    while (level < scale.breaks.length && value >= scale.breaks[level]) {
      level += 1;
    }
    return level;
  }

  function showValue(value, field) {
    if (typeof value !== "number" || !isFinite(value)) {
      return value === undefined || value === null ? "–" : String(value);
    }
    if (field.percent) {
      return Math.round(value * 100) + "%";
    }
    var text = Number.isInteger(value) ? String(value) : value.toFixed(1);
    return field.unit ? text + " " + field.unit : text;
  }

  /* A feature from NGSI-LD GeoJSON, or from a plain entity if the server ignored Accept. */
  function toFeature(item, type) {
    if (item && item.type === "Feature") {
      var props = item.properties || {};
      return { id: item.id, type: props.type || type, geometry: item.geometry, props: props };
    }
    if (item && typeof item === "object") {
      return { id: item.id, type: item.type || type, geometry: valueOf(item.location), props: item };
    }
    return null;
  }

  function positions(geometry, out) {
    if (!geometry || !geometry.coordinates) {
      return;
    }
    var c = geometry.coordinates;
    var depth = { Point: 0, MultiPoint: 1, LineString: 1, MultiLineString: 2, Polygon: 2, MultiPolygon: 3 };
    (function walk(value, level) {
      if (level === 0) {
        if (Array.isArray(value) && isFinite(value[0]) && isFinite(value[1])) {
          out.push([Number(value[0]), Number(value[1])]);
        }
        return;
      }
      (value || []).forEach(function (inner) {
        walk(inner, level - 1);
      });
    })(c, depth[geometry.type] === undefined ? -1 : depth[geometry.type]);
  }

  function projection(features) {
    var points = [];
    features.forEach(function (f) {
      positions(f.geometry, points);
    });
    var bbox = config.bbox || [120.0, 30.1, 120.4, 30.4];
    var minX = bbox[0], minY = bbox[1], maxX = bbox[2], maxY = bbox[3];
    if (points.length) {
      minX = Math.min.apply(null, points.map(function (p) { return p[0]; }));
      maxX = Math.max.apply(null, points.map(function (p) { return p[0]; }));
      minY = Math.min.apply(null, points.map(function (p) { return p[1]; }));
      maxY = Math.max.apply(null, points.map(function (p) { return p[1]; }));
    }
    if (maxX - minX < 0.01) {
      minX -= 0.005;
      maxX += 0.005;
    }
    if (maxY - minY < 0.01) {
      minY -= 0.005;
      maxY += 0.005;
    }
    var kx = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    var w = (maxX - minX) * kx;
    var h = maxY - minY;
    var scale = Math.min((WIDTH - 2 * PAD) / w, (HEIGHT - 2 * PAD) / h);
    var ox = (WIDTH - w * scale) / 2;
    var oy = (HEIGHT - h * scale) / 2;
    return function (p) {
      return [ox + (p[0] - minX) * kx * scale, oy + (maxY - p[1]) * scale];
    };
  }

  function ringPath(ring, project) {
    return ring.map(function (p, i) {
      var xy = project(p);
      return (i ? "L" : "M") + xy[0].toFixed(1) + " " + xy[1].toFixed(1);
    }).join("") + "Z";
  }

  function areaName(props) {
    var en = valueOf(props.alternateName);
    return english && en ? en : valueOf(props.name) || "";
  }

  function drawArea(feature, project) {
    var g = feature.geometry;
    var polygons = g.type === "Polygon" ? [g.coordinates] : g.type === "MultiPolygon" ? g.coordinates : [];
    if (!polygons.length) {
      return 0;
    }
    var d = polygons.map(function (rings) {
      return rings.map(function (ring) { return ringPath(ring, project); }).join("");
    }).join("");
    var path = svg("path", {
      d: d, "class": "area", "fill-rule": "evenodd", "data-testid": "area",
      "data-entity-id": feature.id || ""
    }, areasLayer);
    var name = areaName(feature.props);
    svg("title", {}, path).textContent = name;
    var outer = polygons[0][0] || [];
    if (outer.length > 1 && name) {
      var pts = outer.slice(0, -1).map(project);
      var cx = pts.reduce(function (s, p) { return s + p[0]; }, 0) / pts.length;
      var cy = pts.reduce(function (s, p) { return s + p[1]; }, 0) / pts.length;
      svg("text", { x: cx.toFixed(1), y: cy.toFixed(1), "class": "area__label" }, labelsLayer).textContent = name;
    }
    path.addEventListener("click", function () { openPopup(feature); });
    return 1;
  }

  function markerShape(type, x, y, parent) {
    if (type === "OffStreetParking") {
      return svg("rect", { x: (x - 8).toFixed(1), y: (y - 8).toFixed(1), width: 16, height: 16, rx: 3 }, parent);
    }
    if (type === "TrafficFlowObserved") {
      var d = "M" + x.toFixed(1) + " " + (y - 10).toFixed(1) + "l10 10l-10 10l-10 -10Z";
      return svg("path", { d: d }, parent);
    }
    return svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 9 }, parent);
  }

  function summary(feature) {
    var fields = (config.popup || {})[feature.type] || [];
    var name = valueOf(feature.props.name) || feature.id || "";
    var parts = fields.slice(0, 3).map(function (field) {
      return field.label + " " + showValue(valueOf(feature.props[field.attr]), field);
    });
    return [name].concat(parts).join(" · ");
  }

  function drawMarker(feature, project) {
    var g = feature.geometry;
    if (!g || g.type !== "Point" || !Array.isArray(g.coordinates)) {
      return 0;
    }
    var scale = (config.scales || {})[feature.type];
    var level = scale ? levelOf(scale, valueOf(feature.props[scale.attr])) : null;
    var tone = level === null ? "none" : String(scale.tones[level]);
    var xy = project(g.coordinates);
    var node = markerShape(feature.type, xy[0], xy[1], markersLayer);
    node.setAttribute("class", "marker marker--" + feature.type + " tone-" + tone);
    node.setAttribute("data-testid", "marker");
    node.setAttribute("data-type", feature.type);
    node.setAttribute("data-entity-id", feature.id || "");
    node.setAttribute("data-level", level === null ? "invalid" : String(level));
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "button");
    var text = summary(feature);
    node.setAttribute("aria-label", text);
    svg("title", {}, node).textContent = text;
    node.addEventListener("click", function () { openPopup(feature); });
    node.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        openPopup(feature);
      }
    });
    return 1;
  }

  function openPopup(feature) {
    var labels = config.type_labels || {};
    var fields = (config.popup || {})[feature.type] || [];
    var scale = (config.scales || {})[feature.type];
    popup.querySelector(".citymap__popup-title").textContent =
      feature.type === "AdministrativeArea" ? areaName(feature.props) : valueOf(feature.props.name) || feature.id;
    var kind = labels[feature.type] || feature.type;
    if (scale) {
      var level = levelOf(scale, valueOf(feature.props[scale.attr]));
      var names = (config.level_labels || {})[feature.type] || [];
      kind += " · " + (level === null ? messages.invalid : names[level] || "");
    }
    popup.querySelector(".citymap__popup-type").textContent = kind;
    var list = popup.querySelector(".citymap__popup-values");
    clear(list);
    var rows = fields.map(function (field) {
      return [field.label, showValue(valueOf(feature.props[field.attr]), field), field.attr];
    });
    var when = scale ? observedAt(feature.props, scale.attr) : "";
    if (when) {
      rows.push([messages.observed, when.replace("T", " ").replace("Z", " UTC"), "observedAt"]);
    }
    rows.forEach(function (row) {
      var wrap = document.createElement("div");
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = row[0];
      dd.textContent = row[1];
      dd.setAttribute("data-attr", row[2]);
      wrap.appendChild(dt);
      wrap.appendChild(dd);
      list.appendChild(wrap);
    });
    popup.hidden = false;
  }

  popup.querySelector(".citymap__close").addEventListener("click", function () {
    popup.hidden = true;
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      popup.hidden = true;
    }
  });

  function load(type) {
    var url = config.endpoint + "?type=" + encodeURIComponent(type) + "&limit=" + config.limit;
    return fetch(url, {
      headers: { Accept: "application/geo+json" },
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (!response.ok) {
        throw { status: String(response.status) };
      }
      return response.json();
    }).then(function (body) {
      var items = body && Array.isArray(body.features) ? body.features : Array.isArray(body) ? body : null;
      if (!items) {
        throw { status: "invalid response" };
      }
      var features = items.map(function (item) { return toFeature(item, type); }).filter(Boolean);
      return { type: type, features: features };
    }).catch(function (error) {
      return { type: type, features: [], error: error && error.status ? error.status : messages.error_network };
    });
  }

  function setCount(type, count, failed) {
    var el = root.querySelector('[data-testid="count-' + type + '"]');
    if (el) {
      el.textContent = failed ? "!" : String(count);
      el.setAttribute("data-count", failed ? "" : String(count));
    }
  }

  function render(results) {
    var all = [];
    results.forEach(function (r) { all = all.concat(r.features); });
    var areas = all.filter(function (f) { return f.geometry && /Polygon$/.test(f.geometry.type); });
    var project = projection(all);
    clear(areasLayer);
    clear(labelsLayer);
    clear(markersLayer);
    var drawn = 0;
    areas.forEach(function (f) { drawn += drawArea(f, project); });
    all.forEach(function (f) {
      if (!(f.geometry && /Polygon$/.test(f.geometry.type))) {
        drawn += drawMarker(f, project);
      }
    });
    clear(errorsEl);
    var failed = results.filter(function (r) { return r.error; });
    failed.forEach(function (r) {
      var p = document.createElement("p");
      p.setAttribute("data-testid", "map-error-item");
      p.setAttribute("data-type", r.type);
      p.textContent = format(messages.error, {
        type: (config.type_labels || {})[r.type] || r.type,
        status: r.error
      });
      errorsEl.appendChild(p);
    });
    errorsEl.hidden = failed.length === 0;
    results.forEach(function (r) { setCount(r.type, r.features.length, Boolean(r.error)); });
    statusEl.textContent = drawn ? format(messages.loaded, { count: drawn }) : messages.empty;
    statusEl.setAttribute("data-state", failed.length ? "partial" : "ready");
    root.setAttribute("data-drawn", String(drawn));
  }

  function refresh() {
    return Promise.all(types.map(load)).then(render);
  }

  refresh();
  if (config.refresh_s > 0) {
    window.setInterval(refresh, config.refresh_s * 1000);
  }
})();
