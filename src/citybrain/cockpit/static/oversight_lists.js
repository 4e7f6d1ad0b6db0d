/* CityBrain supervisor's desk (/oversight), lists and downloads: query strings, paged lists
   (Page: items, next_cursor) with "more", a panel's failures (a 403 said plainly) and files
   fetched with the bearer token and saved as Blob downloads. A part of oversight.js
   (window.CityBrainOversight), loaded right after it and before the panels' parts, which use
   what it adds. */
(() => {
  "use strict";

  const S = window.CityBrainOversight;
  if (!S) {
    return;
  }
  const { config, byId, byTestId, state, el, clear, show, msg, clearProblem, showProblem, api, http } = S;

  /* A query string of the non-empty values ("" when none). */
  function query(values) {
    const parts = Object.entries(values)
      .filter(([, v]) => v !== null && v !== undefined && v !== "" && v !== false)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    return parts.length ? `?${parts.join("&")}` : "";
  }

  /* The failure of a panel's read: a 403 is said plainly (the account lacks the role), a 401
     ends the session (done by the client), anything else goes to the problem box. */
  function failed(key, err) {
    const denied = byTestId(`${key}-denied`);
    const box = byTestId(`${key}-error`);
    if (err && err.status === 403) {
      if (denied) {
        denied.textContent = msg("error.forbidden");
        show(denied, true);
        return;
      }
    }
    if (err && err.status === 401) {
      return;
    }
    showProblem(box, err);
  }

  /* A list read page by page (Page: items, next_cursor): load() starts over with path(),
     "more" appends the next page. key names the elements: <key>-body, -none, -more, -error,
     -denied. */
  function pager(key, path, row) {
    const body = byId(`${key}-body`);
    const none = byId(`${key}-none`);
    const more = byId(`${key}-more`);
    const denied = byTestId(`${key}-denied`);
    let cursor = null;

    async function fetchPage(reset) {
      const generation = state.generation;
      clearProblem(byTestId(`${key}-error`));
      const base = path();
      const sep = base.includes("?") ? "&" : "?";
      const after = !reset && cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      more.disabled = true;
      try {
        const out = await api("GET", `${base}${sep}limit=${config.page_limit}${after}`);
        if (generation !== state.generation) {
          return;
        }
        if (reset) {
          clear(body);
        }
        show(denied, false);
        for (const item of out.items || []) {
          body.append(row(item));
        }
        cursor = out.next_cursor || null;
        show(more, Boolean(cursor));
        show(none, body.children.length === 0);
      } catch (err) {
        if (generation !== state.generation) {
          return;
        }
        if (reset) {
          clear(body);
          show(more, false);
          show(none, false);
        }
        failed(key, err);
      } finally {
        more.disabled = false;
      }
    }

    more.addEventListener("click", () => fetchPage(false));
    return {
      load: () => fetchPage(true),
      reset() {
        cursor = null;
        clear(body);
        show(more, false);
        show(none, false);
        show(denied, false);
        clearProblem(byTestId(`${key}-error`));
      },
    };
  }

  /* The file name a Content-Disposition header gives (RFC 6266: filename* first), or null. */
  function filenameOf(header) {
    if (!header) {
      return null;
    }
    const star = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
    if (star) {
      try {
        return decodeURIComponent(star[1].trim().replace(/^"|"$/g, ""));
      } catch (err) {
        /* a malformed encoding: try the plain name */
      }
    }
    const plain = /filename\s*=\s*"?([^";]+)"?/.exec(header);
    return plain ? plain[1].trim() : null;
  }

  /* Fetch path with the bearer token and save the answer as a file (Blob download); the name
     comes from Content-Disposition, else fallback. Returns the name. Failures throw a Problem. */
  async function download(path, accept, fallback) {
    const response = await http.send("GET", path, undefined, accept);
    const blob = await response.blob();
    const name = filenameOf(response.headers.get("Content-Disposition")) || fallback;
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return name;
  }

  Object.assign(S, { query, failed, pager, download });
})();
