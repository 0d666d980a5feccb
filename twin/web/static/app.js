// Valley Twin's pages: draws the assets on the map, keeps them live from /api/stream,
// filters them, and moves an asset's page through time. No library: the browser's own APIs.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const SQUARE = { l: 14, m: 9, s: 6, zero: 5, none: 5 };
  const LISTED = 200;

  function mapPage(svg) {
    const frame = {
      west: Number(svg.dataset.west), north: Number(svg.dataset.north),
      sx: Number(svg.dataset.sx), sy: Number(svg.dataset.sy),
    };
    const layer = document.getElementById("assets");
    const status = document.getElementById("status");
    const form = document.getElementById("filters");
    const listNote = document.getElementById("listing-note");
    const listItems = document.getElementById("listing-items");
    const marks = new Map();
    let live = "connecting";
    let listTimer = null;

    function wanted(row) {
      const kind = form.elements.kind.value, sub = form.elements.subkind.value;
      const commune = form.elements.commune.value;
      return (!kind || row.kind === kind) && (!sub || row.subkind === sub) &&
        (!commune || row.commune_insee === commune);
    }

    function describe(row) {
      return `${row.code} (${row.kind}${row.subkind ? ", " + row.subkind.replace(/_/g, " ") : ""}): ${row.text}`;
    }

    function draw(row) {
      let entry = marks.get(row.code);
      if (row.retired) {
        if (entry) { entry.el.remove(); marks.delete(row.code); }
        return;
      }
      const x = (row.lon - frame.west) * frame.sx, y = (frame.north - row.lat) * frame.sy;
      if (!entry) {
        const el = document.createElementNS(NS, row.kind === "bin" ? "circle" : "rect");
        el.appendChild(document.createElementNS(NS, "title"));
        el.addEventListener("click", () => {
          window.location.href = "/asset/" + encodeURIComponent(row.code);
        });
        layer.appendChild(el);
        entry = { el: el, row: row };
        marks.set(row.code, entry);
      }
      entry.row = row;
      const el = entry.el;
      el.setAttribute("class", `mark kind-${row.kind} band-${row.band}`);
      el.dataset.code = row.code;
      el.dataset.band = row.band;
      if (row.kind === "bin") {
        el.setAttribute("cx", x.toFixed(1));
        el.setAttribute("cy", y.toFixed(1));
        el.setAttribute("r", "3");
      } else {
        const side = SQUARE[row.band] || 5;
        el.setAttribute("x", (x - side / 2).toFixed(1));
        el.setAttribute("y", (y - side / 2).toFixed(1));
        el.setAttribute("width", side);
        el.setAttribute("height", side);
      }
      el.firstChild.textContent = describe(row);
      el.style.display = wanted(row) ? "" : "none";
    }

    function shown() {
      return Array.from(marks.values()).filter((e) => e.el.style.display !== "none");
    }

    function report() {
      const visible = shown();
      status.textContent = `${visible.length} of ${marks.size} assets drawn; live updates: ${live}.`;
      const rows = visible.map((e) => e.row).sort((a, b) => a.code.localeCompare(b.code));
      listNote.textContent = rows.length > LISTED
        ? `The first ${LISTED} of ${rows.length}, by code; narrow the filters to see the others.`
        : `${rows.length} assets.`;
      listItems.replaceChildren(...rows.slice(0, LISTED).map((row) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = "/asset/" + encodeURIComponent(row.code);
        link.textContent = row.code;
        item.append(link, ": " + row.text);
        return item;
      }));
    }

    function reportSoon() {
      if (listTimer === null) listTimer = setTimeout(() => { listTimer = null; report(); }, 500);
    }

    function load() {
      return fetch("/api/assets").then((response) => {
        if (!response.ok) throw new Error(`the assets could not be read (${response.status})`);
        return response.json();
      }).then((answer) => {
        const seen = new Set();
        for (const row of answer.assets) { draw(row); seen.add(row.code); }
        for (const [code, entry] of marks) {
          if (!seen.has(code)) { entry.el.remove(); marks.delete(code); }
        }
        report();
      }).catch((error) => { status.textContent = String(error.message || error); });
    }

    form.addEventListener("change", () => {
      for (const entry of marks.values()) {
        entry.el.style.display = wanted(entry.row) ? "" : "none";
      }
      report();
    });

    load().then(() => {
      if (!window.EventSource) return;
      const stream = new EventSource("/api/stream");
      let ready = 0;
      stream.addEventListener("ready", () => {
        live = "on";
        if (ready++ > 0) load(); // reconnected: what happened meanwhile comes with a reload
        reportSoon();
      });
      stream.addEventListener("asset", (event) => { draw(JSON.parse(event.data)); reportSoon(); });
      stream.addEventListener("resync", () => { load(); });
      stream.addEventListener("error", () => { live = "interrupted, retrying"; reportSoon(); });
    });
  }

  function travelPage(form) {
    const code = form.dataset.code;
    const slider = document.getElementById("instant");
    const text = document.getElementById("instant-text");
    const target = document.getElementById("asof");
    let timer = null;
    let asked = 0;

    function render(answer) {
      const table = document.createElement("table");
      table.className = "state";
      table.id = "asof-table";
      const caption = table.createCaption();
      caption.textContent = `State as of ${answer.instant.slice(0, 16).replace("T", " ")} UTC`;
      const body = table.createTBody();
      if (answer.state === null) {
        const row = body.insertRow();
        row.insertCell().textContent = "It did not exist yet.";
      } else {
        for (const [name, value] of Object.entries(answer.state)) {
          const row = body.insertRow();
          const head = document.createElement("th");
          head.scope = "row";
          head.textContent = name.replace(/_/g, " ");
          row.appendChild(head);
          row.insertCell().textContent = value === null ? "—" : String(value);
        }
      }
      target.replaceChildren(table);
    }

    function ask() {
      const instant = new Date(Number(slider.value) * 1000).toISOString();
      text.textContent = instant.slice(0, 16).replace("T", " ") + " UTC";
      slider.setAttribute("aria-valuetext", text.textContent);
      const mine = ++asked;
      fetch(`/api/assets/${encodeURIComponent(code)}/at?instant=${encodeURIComponent(instant)}`)
        .then((response) => response.json())
        .then((answer) => { if (mine === asked) render(answer); });
    }

    slider.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(ask, 150);
    });
    ask();
  }

  const map = document.getElementById("map");
  if (map) mapPage(map);
  const travel = document.getElementById("travel");
  if (travel) travelPage(travel);
})();
